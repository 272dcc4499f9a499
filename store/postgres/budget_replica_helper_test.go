package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/codedrop/codedrop/distribution"
	"github.com/codedrop/codedrop/intercom"
	"github.com/codedrop/codedrop/intercom/intercomtest"
	"github.com/codedrop/codedrop/store/postgres"
)

// The multi-process harness of the shared budget and the shared fan-out
// (issue 14): a child process of the test binary runs one replica, a
// Manager over the test's schema and the parent's intercomtest server,
// with its own Intercom client. budgetHelperEnv carries its configuration
// (JSON); the child is started by init, before TestMain, and runs until
// it gets SIGTERM or SIGKILL.
const (
	budgetHelperEnv   = "CODEDROP_PG_BUDGET_REPLICA"
	budgetHelperReady = "budget replica running"
)

// budgetReplicaConfig configures a child replica.
type budgetReplicaConfig struct {
	Schema      string
	IntercomURL string
	Token       string
	AdminID     string
	ReplicaID   string
	// Budget turns the shared budget on, with BudgetLimit calls per
	// 10-second window. Otherwise the client paces itself with the
	// in-process limiter shaped to LocalLimit calls per 10-second window
	// (every replica to the whole app's budget, as before the shared
	// one), or not at all when LocalLimit is zero.
	Budget      bool
	BudgetLimit int
	LocalLimit  int
	ChunkSize   int
	Concurrency int
	// Lease is the Scheduler's job lease; InterruptAfter the Manager's.
	Lease          time.Duration
	InterruptAfter time.Duration
}

func init() {
	if v := os.Getenv(budgetHelperEnv); v != "" {
		if err := runBudgetReplica(v); err != nil {
			fmt.Fprintln(os.Stderr, "budget replica:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// runBudgetReplica is the child: a host process with one Manager.
func runBudgetReplica(conf string) error {
	var c budgetReplicaConfig
	if err := json.Unmarshal([]byte(conf), &c); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	pcfg, err := pgxpool.ParseConfig(os.Getenv(dsnEnv))
	if err != nil {
		return err
	}
	pcfg.ConnConfig.RuntimeParams["search_path"] = c.Schema
	pcfg.ConnConfig.RuntimeParams["application_name"] = "codedrop-budget-" + c.ReplicaID
	pcfg.MaxConns = 12
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	icfg := intercom.Config{Token: c.Token, BaseURL: c.IntercomURL, UserAgent: c.ReplicaID,
		HTTPClient: &http.Client{Transport: tr, Timeout: 30 * time.Second}, RateLimit: intercom.RateLimit{Disabled: true}}
	if c.LocalLimit > 0 {
		icfg.RateLimit = intercom.RateLimit{PerMinute: 6 * c.LocalLimit, Window: 10 * time.Second}
	}
	if c.Budget {
		b, err := postgres.NewBudget(pool, postgres.BudgetConfig{ReplicaID: c.ReplicaID, Limit: c.BudgetLimit})
		if err != nil {
			return err
		}
		icfg.RateLimiter = b
	}
	ic, err := intercom.NewClient(icfg)
	if err != nil {
		return err
	}
	sched, err := postgres.NewScheduler(pool, postgres.SchedulerConfig{PollInterval: 20 * time.Millisecond, Lease: c.Lease})
	if err != nil {
		return err
	}
	m, err := distribution.NewManager(distribution.Config{Store: postgres.New(pool), Codes: postgres.NewCodes(pool, nil),
		Scheduler: sched, Intercom: ic, AdminID: c.AdminID, ReplicaID: c.ReplicaID,
		ChunkSize: c.ChunkSize, Concurrency: c.Concurrency, InterruptAfter: c.InterruptAfter})
	if err != nil {
		return err
	}
	fmt.Println(budgetHelperReady)
	if err := m.Run(ctx); !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// childReplica is a running child replica.
type childReplica struct {
	id   string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when it has exited
}

// startBudgetReplica starts a child replica for srv over schema and waits until
// it runs; it is stopped (SIGTERM) when the test ends, unless killed.
func startBudgetReplica(t testing.TB, srv *intercomtest.Server, c budgetReplicaConfig) *childReplica {
	t.Helper()
	c.IntercomURL, c.Token, c.AdminID = srv.URL, srv.Token(), srv.AdminID()
	conf, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	r := &childReplica{id: c.ReplicaID, out: &syncBuffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(os.Args[0], "-test.run=^$")
	r.cmd.Env = append(os.Environ(), budgetHelperEnv+"="+string(conf))
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.done
		}
		if t.Failed() {
			t.Logf("replica %s output:\n%s", r.id, r.out.String())
		}
	})
	waitFor(t, "replica "+c.ReplicaID+" to run", func() bool {
		select {
		case <-r.done:
			t.Fatalf("replica %s exited: %s", r.id, r.out.String())
		default:
		}
		return strings.Contains(r.out.String(), budgetHelperReady)
	})
	return r
}

// kill ends the child with SIGKILL and waits until it is gone.
func (r *childReplica) kill(t testing.TB) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-r.done
}
