package postgres_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codedrop/codedrop/customer"
	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/store/postgres"
)

// helperEnv selects a helper mode of the test binary: "replica" runs a
// Manager (configured by the helper* variables) until it is killed.
const (
	helperEnv       = "CODEDROP_PG_HELPER"
	helperSchema    = "CODEDROP_PG_HELPER_SCHEMA"
	helperIntercom  = "CODEDROP_PG_HELPER_INTERCOM"
	helperToken     = "CODEDROP_PG_HELPER_TOKEN"
	helperAdmin     = "CODEDROP_PG_HELPER_ADMIN"
	helperConfigEnv = "CODEDROP_PG_HELPER_CONFIG"
	helperReadyLine = "replica running"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "replica" {
		if err := runHelperReplica(); err != nil {
			fmt.Fprintln(os.Stderr, "helper replica:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperConfig tunes a helper replica (JSON in helperConfigEnv). Every
// zero value keeps the helper's default.
type helperConfig struct {
	// ReplicaID is the Manager's Config.ReplicaID; it also names the
	// replica's database connections (see helperAppName).
	ReplicaID string `json:"replica_id,omitempty"`
	// Lease is the Scheduler's job lease; default 2s.
	Lease time.Duration `json:"lease,omitempty"`
	// ManualDelay, InterruptAfter, SendTimeout and Concurrency are the
	// Manager's. Replicas sharing a database should agree on them: a
	// distribution sent through one replica may be armed by another
	// (its recovery runs between Send's two writes) with its ManualDelay.
	ManualDelay    time.Duration `json:"manual_delay,omitempty"`
	InterruptAfter time.Duration `json:"interrupt_after,omitempty"`
	SendTimeout    time.Duration `json:"send_timeout,omitempty"`
	Concurrency    int           `json:"concurrency,omitempty"`
	// ChunkSize is the Manager's Config.ChunkSize (how a fan-out is
	// shared between replicas); default the Manager's.
	ChunkSize int `json:"chunk_size,omitempty"`
	// RatePerMinute turns the Intercom client's rate limiter on (with
	// RateWindow as its window); default: off.
	RatePerMinute int           `json:"rate_per_minute,omitempty"`
	RateWindow    time.Duration `json:"rate_window,omitempty"`
	// Journal names a file to which the replica appends one byte each
	// time its Intercom rate limit lets a request through (Client.Wait
	// returned), before the delivery moves to sending: each is one
	// write(2), so a SIGKILL loses none.
	Journal string `json:"journal,omitempty"`
	// Control serves HandleEvent (POST /handle) and EnqueueEvent (POST
	// /enqueue) on 127.0.0.1, as a host's endpoints would; the ready
	// line carries the address.
	Control bool `json:"control,omitempty"`
	// Log writes the Manager's log (Info and above) to stderr.
	Log bool `json:"log,omitempty"`
}

// runHelperReplica is a host process: a Manager over the test schema and
// the parent's intercomtest server, running until a signal.
func runHelperReplica() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var hc helperConfig
	if s := os.Getenv(helperConfigEnv); s != "" {
		if err := json.Unmarshal([]byte(s), &hc); err != nil {
			return fmt.Errorf("%s: %w", helperConfigEnv, err)
		}
	}
	schema := os.Getenv(helperSchema)
	cfg, err := pgxpool.ParseConfig(os.Getenv(dsnEnv))
	if err != nil {
		return err
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.ConnConfig.RuntimeParams["application_name"] = helperAppName(schema, hc.ReplicaID)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	rl := intercom.RateLimit{Disabled: true}
	if hc.RatePerMinute > 0 {
		rl = intercom.RateLimit{PerMinute: hc.RatePerMinute, Window: hc.RateWindow}
	}
	ic, err := intercom.NewClient(intercom.Config{Token: os.Getenv(helperToken), BaseURL: os.Getenv(helperIntercom), RateLimit: rl})
	if err != nil {
		return err
	}
	var ms intercom.Messenger = ic
	if hc.Journal != "" {
		f, err := os.OpenFile(hc.Journal, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		ms = journaledClient{Client: ic, f: f}
	}
	lease := hc.Lease
	if lease == 0 {
		lease = 2 * time.Second
	}
	sched, err := postgres.NewScheduler(pool, postgres.SchedulerConfig{PollInterval: 20 * time.Millisecond, Lease: lease})
	if err != nil {
		return err
	}
	var log *slog.Logger
	if hc.Log {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	m, err := distribution.NewManager(distribution.Config{Store: postgres.New(pool), Intercom: ms, AdminID: os.Getenv(helperAdmin),
		Codes: postgres.NewCodes(pool, nil), Scheduler: sched, ReplicaID: hc.ReplicaID, Logger: log,
		ManualDelay: hc.ManualDelay, InterruptAfter: hc.InterruptAfter, SendTimeout: hc.SendTimeout, Concurrency: hc.Concurrency, ChunkSize: hc.ChunkSize})
	if err != nil {
		return err
	}
	addr := ""
	if hc.Control {
		// The trigger index is loaded before the parent is told the
		// replica runs: what the parent changes next is a change this
		// replica must notice.
		if err := m.ReloadTriggers(ctx); err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		hs := &http.Server{Handler: controlHandler(m)}
		go hs.Serve(ln) //nolint:errcheck // ends with the process
		defer hs.Close()
		addr = ln.Addr().String()
	}
	fmt.Println(helperReadyLine, addr)
	if err := m.Run(ctx); !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// journaledClient is an *intercom.Client whose rate-limit passes are
// counted in a file (see helperConfig.Journal).
type journaledClient struct {
	*intercom.Client
	f *os.File
}

// Wait is Client.Wait, then one byte in the journal.
func (c journaledClient) Wait(ctx context.Context) error {
	if err := c.Client.Wait(ctx); err != nil {
		return err
	}
	_, err := c.f.Write([]byte{'p'})
	return err
}

// Control answers: 200 for nil, 409 for ErrEventInProgress, 500 with the
// error's text otherwise.
func controlHandler(m *distribution.Manager) http.Handler {
	mux := http.NewServeMux()
	serve := func(call func(context.Context, distribution.Event) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var e distribution.Event
			if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			switch err := call(r.Context(), e); {
			case err == nil:
			case errors.Is(err, distribution.ErrEventInProgress):
				http.Error(w, err.Error(), http.StatusConflict)
			default:
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		}
	}
	mux.HandleFunc("POST /handle", serve(m.HandleEvent))
	mux.HandleFunc("POST /enqueue", serve(m.EnqueueEvent))
	return mux
}

// helperAppName is the application_name of a helper replica's
// connections to schema (replica: its helperConfig.ReplicaID).
func helperAppName(schema, replica string) string {
	if replica == "" {
		return "codedrop-helper-" + schema
	}
	return "codedrop-helper-" + schema + "-" + replica
}

// syncBuffer is a bytes.Buffer safe for a child's output and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// front is one replica's view of the fake Intercom: a server of its own
// in front of the shared intercomtest server, counting the replica's
// messages and, once hold is set, holding them unanswered (in flight)
// until the replica goes away.
type front struct {
	*httptest.Server
	messages atomic.Int64 // POST /messages requests received
	held     atomic.Int64 // of which held
	hold     atomic.Bool
	closed   chan struct{}
}

func newFront(t testing.TB, srv *intercomtest.Server) *front {
	f := &front{closed: make(chan struct{})}
	inner := srv.Handler()
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/messages" {
			f.messages.Add(1)
			if f.hold.Load() {
				f.held.Add(1)
				_, _ = io.Copy(io.Discard, r.Body) // so a closed connection is noticed
				select {
				case <-r.Context().Done():
				case <-f.closed:
				}
				return
			}
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		close(f.closed)
		f.Close()
	})
	return f
}

// child is a helper replica process.
type child struct {
	t      testing.TB
	id     string
	schema string
	cmd    *exec.Cmd
	out    *syncBuffer
	addr   string // control address (helperConfig.Control)
	front  *front
	dead   bool
}

// startChild starts a helper replica on schema whose Intercom is a new
// front of srv, and waits until it runs. It is killed in t.Cleanup.
func startChild(t testing.TB, schema string, srv *intercomtest.Server, hc helperConfig) *child {
	t.Helper()
	cfg, err := json.Marshal(hc)
	if err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, id: hc.ReplicaID, schema: schema, out: &syncBuffer{}, front: newFront(t, srv)}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), helperEnv+"=replica", helperSchema+"="+schema, helperIntercom+"="+c.front.URL,
		helperToken+"="+srv.Token(), helperAdmin+"="+srv.AdminID(), helperConfigEnv+"="+string(cfg))
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stderr = c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("replica %s output:\n%s", c.id, c.out.String())
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, helperReadyLine); ok {
				select {
				case ready <- strings.TrimSpace(rest):
				default:
				}
			}
			fmt.Fprintln(c.out, line)
		}
	}()
	select {
	case c.addr = <-ready:
	case <-time.After(time.Minute):
		t.Fatalf("replica %s did not start; its output:\n%s", c.id, c.out.String())
	}
	return c
}

// kill kills the replica with SIGKILL and waits until it is gone.
func (c *child) kill() {
	if c.dead {
		return
	}
	c.dead = true
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.cmd.Wait()
}

// waitGone waits until the database has no connection of the (killed)
// replica left: what it sent the server before it died is applied or
// rolled back.
func (c *child) waitGone(pool *pgxpool.Pool) {
	c.t.Helper()
	waitFor(c.t, "replica "+c.id+"'s connections to close", func() bool {
		var n int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`,
			helperAppName(c.schema, c.id)).Scan(&n); err != nil {
			c.t.Fatal(err)
		}
		return n == 0
	})
}

// call posts e to the replica's control endpoint path ("handle",
// "enqueue"): nil for 200, an error wrapping ErrEventInProgress for 409.
func (c *child) call(ctx context.Context, path string, e distribution.Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.addr+"/"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusConflict:
		return fmt.Errorf("replica %s: %s: %w", c.id, strings.TrimSpace(string(msg)), distribution.ErrEventInProgress)
	}
	return fmt.Errorf("replica %s: %s: %s", c.id, resp.Status, strings.TrimSpace(string(msg)))
}

// contactsOf maps each stored customer's id to its Intercom contact id.
func contactsOf(t *testing.T, st *postgres.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for c, err := range st.Customers(context.Background(), customer.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		out[c.ID], _ = c.Metadata[intercom.MetaIntercomID].(string)
	}
	return out
}

// messagesPerContact counts the messages the fake Intercom received, by
// recipient contact id.
func messagesPerContact(srv *intercomtest.Server) map[string]int {
	out := map[string]int{}
	for _, msg := range srv.Messages() {
		out[msg.To.ID]++
	}
	return out
}
