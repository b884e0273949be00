package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// bareProject mirrors the wire form of a project.
type bareProject struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	OwnerID     string    `json:"owner_id"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// serveBare is the reference: Fiber and a pgx pool, one primary-key read.
func serveBare() int {
	pool, err := pgxpool.New(context.Background(), os.Getenv("BENCH_DATABASE_URL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer pool.Close()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok") })
	app.Get("/v1/projects/:id", func(c *fiber.Ctx) error {
		var p bareProject
		err := pool.QueryRow(c.UserContext(),
			`SELECT id, name, description, owner_id, created_at, updated_at FROM projects WHERE id = $1`, c.Params("id")).
			Scan(&p.ID, &p.Name, &p.Description, &p.OwnerID, &p.CreatedAt, &p.UpdatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return c.SendStatus(404)
		}
		if err != nil {
			return err
		}
		return c.JSON(p)
	})
	go func() {
		if err := app.Listen(os.Getenv("BENCH_ADDR")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}()
	fmt.Fprintln(os.Stderr, `{"msg":"listening"}`)
	wait()
	_ = app.Shutdown()
	return 0
}

func wait() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}
