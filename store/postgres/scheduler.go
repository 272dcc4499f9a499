package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codedrop/codedrop/distribution"
)

// notifyChannel is the LISTEN/NOTIFY channel that wakes Schedulers when a
// job is (re)scheduled.
const notifyChannel = "codedrop_jobs"

// Defaults of SchedulerConfig's zero values.
const (
	DefaultPollInterval = time.Second
	DefaultLease        = time.Minute
	DefaultMaxRunning   = 16
)

// SchedulerConfig configures [NewScheduler]. Every zero value is a
// documented default.
type SchedulerConfig struct {
	// PollInterval is how often Run looks for due jobs when nothing wakes
	// it earlier (a NOTIFY from Schedule, a finished job); default
	// DefaultPollInterval (1s).
	PollInterval time.Duration
	// Lease is how long a claimed job stays claimed without news from its
	// Scheduler. Run renews the leases of running jobs every Lease/3, so
	// only a Scheduler that died (or lost the database) lets its jobs
	// expire, and another replica then runs them again. Default
	// DefaultLease (1 minute).
	Lease time.Duration
	// MaxRunning bounds the jobs one Scheduler runs at once, those of the
	// kinds in KindLimits aside; default DefaultMaxRunning.
	MaxRunning int
	// KindLimits bounds, per job kind, how many jobs of that kind one
	// Scheduler runs at once, apart from MaxRunning: a kind at its limit
	// is left to the other replicas. Default (nil): DefaultKindLimits, one
	// distribution.JobChunk at a time, so that replicas share a fan-out's
	// chunks and each sends at most its Manager's Concurrency. Limits must
	// be positive.
	KindLimits map[string]int
	// Clock decides when a job is due (its Now); default the system
	// clock. Give it the Manager's Config.Clock: the Manager drops a send
	// job handed out before its own clock says the distribution is due.
	// Replicas sharing a database need synchronized clocks. Tests pass a
	// distributiontest.FakeClock; polling still uses real time.
	Clock distribution.Clock
	// Logger receives claim and lease errors; default: discarded.
	Logger *slog.Logger
	// NoListen turns LISTEN/NOTIFY off: Run only polls (for poolers that
	// do not support LISTEN, such as PgBouncer in transaction mode).
	NoListen bool
}

// DefaultKindLimits returns SchedulerConfig.KindLimits's default: one
// distribution.JobChunk at a time.
func DefaultKindLimits() map[string]int { return map[string]int{distribution.JobChunk: 1} }

// Scheduler is a durable distribution.Scheduler: jobs are rows of the jobs
// table, so they survive restarts and every replica sharing the database
// runs them. Run claims due jobs with SELECT ... FOR UPDATE SKIP LOCKED
// and a lease (locked_by, locked_until), so two Schedulers never run one
// job at the same time while both live; a job whose Scheduler died is
// claimed again when its lease expires. A job row is deleted when its
// handler returns, unless it was rescheduled meanwhile (its version
// changed), in which case it runs again at its new time.
//
// It is safe for concurrent use. Create it with [NewScheduler].
type Scheduler struct {
	pool    *pgxpool.Pool
	cfg     SchedulerConfig
	clock   distribution.Clock
	log     *slog.Logger
	id      string // locked_by of the jobs this Scheduler claims
	mu      sync.Mutex
	running map[string]claimed // job id -> what this Scheduler claimed
}

// claimed is a job this Scheduler runs.
type claimed struct {
	kind    string
	version int64
}

var _ distribution.SharedScheduler = (*Scheduler)(nil)

// NewScheduler returns a Scheduler over pool (migrated with [Migrate]).
// Invalid configuration fails with an error wrapping
// distribution.ErrInvalid naming the field.
func NewScheduler(pool *pgxpool.Pool, cfg SchedulerConfig) (*Scheduler, error) {
	bad := func(field string, v any) error {
		return fmt.Errorf("postgres: SchedulerConfig.%s: %v is negative: %w", field, v, distribution.ErrInvalid)
	}
	switch {
	case pool == nil:
		return nil, fmt.Errorf("postgres: NewScheduler: nil pool: %w", distribution.ErrInvalid)
	case cfg.PollInterval < 0:
		return nil, bad("PollInterval", cfg.PollInterval)
	case cfg.Lease < 0:
		return nil, bad("Lease", cfg.Lease)
	case cfg.MaxRunning < 0:
		return nil, bad("MaxRunning", cfg.MaxRunning)
	}
	if cfg.KindLimits == nil {
		cfg.KindLimits = DefaultKindLimits()
	}
	for kind, n := range cfg.KindLimits {
		if n <= 0 {
			return nil, fmt.Errorf("postgres: SchedulerConfig.KindLimits[%q]: %d is not positive: %w", kind, n, distribution.ErrInvalid)
		}
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.MaxRunning == 0 {
		cfg.MaxRunning = DefaultMaxRunning
	}
	s := &Scheduler{pool: pool, cfg: cfg, clock: cfg.Clock, log: cfg.Logger, running: map[string]claimed{}}
	if s.clock == nil {
		s.clock = distribution.SystemClock{}
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	s.id = "sched_" + hex.EncodeToString(b[:])
	return s, nil
}

// scheduleTx inserts job or moves it (a reschedule bumps its version and
// releases any claim, so it runs again at its new time) and notifies the
// listening Schedulers on commit.
func scheduleTx(ctx context.Context, tx pgx.Tx, job distribution.Job) error {
	q := tx
	if _, err := q.Exec(ctx, `INSERT INTO jobs (id, kind, target, run_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, target = excluded.target, run_at = excluded.run_at,
			version = jobs.version + 1, locked_by = NULL, locked_until = NULL`,
		job.ID, job.Kind, job.Target, jobAt(job.RunAt)); err != nil {
		return err
	}
	_, err := q.Exec(ctx, `SELECT pg_notify($1, '')`, notifyChannel)
	return err
}

// Schedule implements distribution.Scheduler.
func (s *Scheduler) Schedule(ctx context.Context, job distribution.Job) error {
	if job.ID == "" {
		return fmt.Errorf("postgres: schedule: job id: required: %w", distribution.ErrInvalid)
	}
	return inTx(ctx, s.pool, func(tx pgx.Tx) error { return scheduleTx(ctx, tx, job) })
}

// Add implements distribution.SharedScheduler: it inserts job unless a
// job with its ID exists. A pending one is left as it is; one that a live
// Scheduler runs gets a new version, so it is not deleted when its
// handler returns but released and handed out again.
func (s *Scheduler) Add(ctx context.Context, job distribution.Job) (bool, error) {
	if job.ID == "" {
		return false, fmt.Errorf("postgres: add: job id: required: %w", distribution.ErrInvalid)
	}
	var added bool
	err := inTx(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO jobs (id, kind, target, run_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (id) DO UPDATE SET version = jobs.version + 1
				WHERE jobs.locked_by IS NOT NULL AND jobs.locked_until >= $5
			RETURNING xmax = 0`, job.ID, job.Kind, job.Target, jobAt(job.RunAt), ts0(s.clock.Now())).Scan(&added)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // pending: left alone
		}
		if err != nil || !added {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, '')`, notifyChannel)
		return err
	})
	return added, err
}

// Cancel implements distribution.Scheduler. A running job is not
// interrupted; its row is gone, so it is not run again.
func (s *Scheduler) Cancel(ctx context.Context, jobID string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM jobs WHERE id = $1`, jobID)
	return ctxErr(ctx, err)
}

// Pending returns the jobs not yet finished, claimed or not, by RunAt (for
// tests and diagnostics).
func (s *Scheduler) Pending(ctx context.Context) ([]distribution.Job, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, kind, target, run_at FROM jobs ORDER BY run_at, id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (distribution.Job, error) {
		var j distribution.Job
		err := r.Scan(&j.ID, &j.Kind, &j.Target, &j.RunAt)
		return j, err
	})
}

// Run implements distribution.Scheduler.
func (s *Scheduler) Run(ctx context.Context, handle func(context.Context, distribution.Job) error) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wake := make(chan struct{}, 1)
	poke := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	if !s.cfg.NoListen {
		wg.Add(1)
		go func() { defer wg.Done(); s.listen(ctx, poke) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); s.renew(ctx) }()

	poll := time.NewTicker(s.cfg.PollInterval)
	defer poll.Stop()
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if room := s.room(); len(room) > 0 {
			jobs, versions, err := s.claim(ctx, room)
			if err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "claiming due jobs", "err", err)
			}
			for i, j := range jobs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_ = handle(ctx, j)
					s.finish(j.ID, versions[i])
					poke()
				}()
			}
			if s.filled(room, jobs) {
				poke() // there may be more due right now
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-poll.C:
		}
	}
}

// room returns how many more jobs this Scheduler may run now: by kind
// for the kinds in KindLimits, under "" for the others (MaxRunning); only
// the positive ones.
func (s *Scheduler) room() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	room := map[string]int{"": s.cfg.MaxRunning}
	for kind, n := range s.cfg.KindLimits {
		room[kind] = n
	}
	for _, c := range s.running {
		if _, limited := s.cfg.KindLimits[c.kind]; limited {
			room[c.kind]--
		} else {
			room[""]--
		}
	}
	for k, n := range room {
		if n <= 0 {
			delete(room, k)
		}
	}
	return room
}

// filled reports whether jobs took all the room of some kind (or of the
// kinds without a limit).
func (s *Scheduler) filled(room map[string]int, jobs []distribution.Job) bool {
	got := map[string]int{}
	for _, j := range jobs {
		k := j.Kind
		if _, limited := s.cfg.KindLimits[k]; !limited {
			k = ""
		}
		got[k]++
	}
	for k, n := range room {
		if got[k] >= n {
			return true
		}
	}
	return false
}

// claim takes due jobs that nobody holds (or whose lease ran out): up to
// room[kind] of each kind in KindLimits and room[""] of the others, in
// order of their time (and id).
func (s *Scheduler) claim(ctx context.Context, room map[string]int) ([]distribution.Job, []int64, error) {
	now := s.clock.Now()
	// Never a job this Scheduler is running: it renews those leases itself.
	s.mu.Lock()
	mine := make([]string, 0, len(s.running))
	for id := range s.running {
		mine = append(mine, id)
	}
	s.mu.Unlock()
	limited := make([]string, 0, len(s.cfg.KindLimits))
	for kind := range s.cfg.KindLimits {
		limited = append(limited, kind)
	}
	// One candidate set per kind with room, each locked with SKIP LOCKED.
	const due = `run_at <= $3 AND (locked_until IS NULL OR locked_until < $3) AND NOT (id = ANY($4))`
	args := []any{s.id, ts0(now.Add(s.cfg.Lease)), ts0(now), mine}
	var ctes, sets []string
	for kind, n := range room {
		cond := `NOT (kind = ANY($` + strconv.Itoa(len(args)+1) + `))`
		args = append(args, limited)
		if kind != "" {
			cond = `kind = $` + strconv.Itoa(len(args))
			args[len(args)-1] = kind
		}
		args = append(args, n)
		name := "c" + strconv.Itoa(len(ctes))
		ctes = append(ctes, name+` AS (SELECT id FROM jobs WHERE `+due+` AND `+cond+
			` ORDER BY run_at, id LIMIT $`+strconv.Itoa(len(args))+` FOR UPDATE SKIP LOCKED)`)
		sets = append(sets, `SELECT id FROM `+name)
	}
	rows, err := s.pool.Query(ctx, `WITH `+strings.Join(ctes, ", ")+`
		UPDATE jobs SET locked_by = $1, locked_until = $2, attempts = attempts + 1
		WHERE id IN (`+strings.Join(sets, " UNION ALL ")+`)
		RETURNING id, kind, target, run_at, version`, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var (
		jobs     []distribution.Job
		versions []int64
	)
	for rows.Next() {
		var j distribution.Job
		var v int64
		if err := rows.Scan(&j.ID, &j.Kind, &j.Target, &j.RunAt, &v); err != nil {
			return nil, nil, err
		}
		jobs = append(jobs, j)
		versions = append(versions, v)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	for i, j := range jobs {
		s.running[j.ID] = claimed{kind: j.Kind, version: versions[i]}
	}
	s.mu.Unlock()
	return jobs, versions, nil
}

// finish deletes a job whose handler returned, unless it was rescheduled
// (or added) while it ran: then its claim is released, so it is handed out
// again at its time.
func (s *Scheduler) finish(id string, version int64) {
	defer func() {
		s.mu.Lock()
		delete(s.running, id)
		s.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `WITH done AS (DELETE FROM jobs WHERE id = $1 AND version = $2 RETURNING id)
		UPDATE jobs SET locked_by = NULL, locked_until = NULL
		WHERE id = $1 AND locked_by = $3 AND NOT EXISTS (SELECT FROM done)`, id, version, s.id); err != nil {
		// The lease runs out and the job runs again: handlers are
		// idempotent.
		s.log.Error("deleting a finished job", "job", id, "err", err)
	}
}

// renew extends the leases of the running jobs every Lease/3.
func (s *Scheduler) renew(ctx context.Context) {
	t := time.NewTicker(s.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		ids := make([]string, 0, len(s.running))
		for id := range s.running {
			ids = append(ids, id)
		}
		s.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		if _, err := s.pool.Exec(ctx, `UPDATE jobs SET locked_until = $2 WHERE locked_by = $1 AND id = ANY($3)`,
			s.id, ts0(s.clock.Now().Add(s.cfg.Lease)), ids); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "renewing job leases", "err", err)
		}
	}
}

// listen holds one connection LISTENing on notifyChannel and pokes Run on
// every notification, reconnecting after errors.
func (s *Scheduler) listen(ctx context.Context, poke func()) {
	for ctx.Err() == nil {
		err := func() error {
			conn, err := s.pool.Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
				return err
			}
			defer func() {
				// Leave the pooled connection as we found it.
				uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if _, err := conn.Exec(uctx, "UNLISTEN "+notifyChannel); err != nil {
					conn.Conn().Close(uctx) //nolint:errcheck // destroyed either way
				}
			}()
			for {
				if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
					return err
				}
				poke()
			}
		}()
		if ctx.Err() != nil {
			return
		}
		s.log.WarnContext(ctx, "LISTEN connection failed; polling until it is back", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(s.cfg.PollInterval):
		}
	}
}
