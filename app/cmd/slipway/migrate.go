package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/slipwayhq/slipway/migrations"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage/postgres"
)

// migrateCommand changes or shows the PostgreSQL schema at
// SLIPWAY_DATABASE_URL, under the same advisory lock the server takes when
// it migrates at start:
//
//	slipway migrate up       apply every pending migration
//	slipway migrate down     roll back the last group (what the last up applied)
//	slipway migrate status   list migrations and their state; changes nothing
func migrateCommand(s *settings.Settings, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || (args[0] != "up" && args[0] != "down" && args[0] != "status") {
		fmt.Fprintf(stderr, "slipway: migrate needs one of up, down, status\n%s", usage)
		return 2
	}
	if s.Storage.DatabaseURL == "" {
		fmt.Fprintln(stderr, "slipway: setting SLIPWAY_DATABASE_URL: required by migrate")
		return 2
	}
	ms, err := migrations.New()
	if err != nil {
		fmt.Fprintln(stderr, "slipway:", err)
		return 1
	}
	m, err := postgres.NewMigrator(s.Storage.DatabaseURL, ms)
	if err != nil {
		fmt.Fprintln(stderr, "slipway: setting SLIPWAY_DATABASE_URL:", err)
		return 2
	}
	defer m.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	where := postgres.Describe(s.Storage.DatabaseURL)

	switch args[0] {
	case "up":
		applied, err := m.Up(ctx)
		for _, mig := range applied {
			fmt.Fprintf(stdout, "applied %s_%s\n", mig.Name, mig.Comment)
		}
		if err != nil {
			fmt.Fprintf(stderr, "slipway: postgres at %s: %v\n", where, err)
			return 1
		}
		if len(applied) == 0 {
			fmt.Fprintf(stdout, "%s is up to date\n", where)
		}
	case "down":
		rolledBack, err := m.Down(ctx)
		for _, mig := range rolledBack {
			fmt.Fprintf(stdout, "rolled back %s_%s\n", mig.Name, mig.Comment)
		}
		if err != nil {
			fmt.Fprintf(stderr, "slipway: postgres at %s: %v\n", where, err)
			return 1
		}
		if len(rolledBack) == 0 {
			fmt.Fprintf(stdout, "%s has no migration to roll back\n", where)
		}
	case "status":
		all, unknown, err := m.Status(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "slipway: postgres at %s: %v\n", where, err)
			return 1
		}
		printStatus(stdout, where, all, unknown)
	}
	return 0
}

func printStatus(w io.Writer, where string, all []postgres.Migration, unknown []string) {
	fmt.Fprintf(w, "database %s\n", where)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	pending := 0
	for _, mig := range all {
		state := "pending"
		if mig.Applied {
			state = fmt.Sprintf("applied %s (group %d)", mig.MigratedAt.UTC().Format("2006-01-02T15:04:05Z"), mig.GroupID)
		} else {
			pending++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", mig.Name, mig.Comment, state)
	}
	for _, name := range unknown {
		fmt.Fprintf(tw, "%s\t?\tapplied, unknown to this binary (a newer release's)\n", name)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d migrations: %d applied, %d pending\n", len(all), len(all)-pending, pending)
}
