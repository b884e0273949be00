package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/app"
	"github.com/slipwayhq/slipway/modules/users"
	"github.com/slipwayhq/slipway/platform/settings"
)

type groupList []string

func (g *groupList) String() string     { return strings.Join(*g, ",") }
func (g *groupList) Set(v string) error { *g = append(*g, v); return nil }

// usersCommand bootstraps a user, typically the first root:
// printf '%s' "$PW" | slipway users create --email a@b.c --password-stdin --group root
func usersCommand(s *settings.Settings, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintf(stderr, "slipway: users needs a subcommand\n%s", usage)
		return 2
	}
	fs := flag.NewFlagSet("users create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "email of the new user")
	pwStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	name := fs.String("display-name", "", "display name")
	var groups groupList
	fs.Var(&groups, "group", "group to grant (operator, root); repeatable")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *email == "" || !*pwStdin {
		fmt.Fprintln(stderr, "slipway: users create needs --email and --password-stdin (passwords never go on the command line)")
		return 2
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		fmt.Fprintln(stderr, "slipway: read password:", err)
		return 1
	}
	password := strings.TrimRight(line, "\r\n")

	var svc *users.Service
	a := fx.New(app.Core(s), fx.NopLogger, fx.Populate(&svc))
	if err := a.Err(); err != nil {
		return fail(stderr, err)
	}
	startCtx, cancel := context.WithTimeout(context.Background(), a.StartTimeout())
	defer cancel()
	if err := a.Start(startCtx); err != nil {
		return fail(stderr, err)
	}
	u, err := svc.Create(context.Background(), users.CreateInput{
		Email: *email, Password: password, DisplayName: *name, Groups: groups,
	})
	stopCtx, cancelStop := context.WithTimeout(context.Background(), a.StopTimeout())
	defer cancelStop()
	_ = a.Stop(stopCtx)
	if err != nil {
		fmt.Fprintln(stderr, "slipway: users create:", err)
		return 1
	}
	fmt.Fprintf(stdout, "created user %s <%s> groups=%s\n", u.ID, u.Email, strings.Join(u.Groups, ","))
	return 0
}
