package apptest

import (
	"context"

	"github.com/slipwayhq/slipway/modules/users"
)

// createUser reaches the users service of the running app. The harness keeps
// a reference to it through fx.Populate at start.
func (a *App) createUser(email, password string, groups []string) error {
	_, err := a.users.Create(context.Background(), users.CreateInput{Email: email, Password: password, Groups: groups})
	return err
}
