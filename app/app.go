// Package app is the composition root: the lists of fx modules live here and
// nowhere else.
package app

import (
	"go.uber.org/fx"

	"github.com/slipwayhq/slipway/modules/health"
	"github.com/slipwayhq/slipway/modules/projects"
	"github.com/slipwayhq/slipway/modules/repositories"
	"github.com/slipwayhq/slipway/modules/runs"
	"github.com/slipwayhq/slipway/modules/secrets"
	"github.com/slipwayhq/slipway/modules/users"
	"github.com/slipwayhq/slipway/platform/auth"
	"github.com/slipwayhq/slipway/platform/containers"
	"github.com/slipwayhq/slipway/platform/egress"
	"github.com/slipwayhq/slipway/platform/httpserver"
	"github.com/slipwayhq/slipway/platform/httpserver/apidocs"
	"github.com/slipwayhq/slipway/platform/logging"
	"github.com/slipwayhq/slipway/platform/metrics"
	"github.com/slipwayhq/slipway/platform/queue"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage"
)

// Options returns the whole server for the given settings. The settings are
// loaded before fx starts, so a bad one is reported in one line.
func Options(s *settings.Settings) fx.Option {
	return fx.Options(
		Worker(s),
		httpserver.Module,
		apidocs.Module,
		health.Module,
	)
}

// Worker is the server without its HTTP listener (`slipway worker`): the
// domains, the run worker, which takes runs queued by any instance, and the
// metrics listener (when SLIPWAY_METRICS_ADDR is set).
func Worker(s *settings.Settings) fx.Option {
	return fx.Options(
		Core(s),
		projects.Module,
		repositories.Module,
		secrets.Module,
		containers.Module,
		egress.Module,
		queue.Module,
		runs.Module,
		metrics.Module,
	)
}

// Core is the part of the server the operator commands (`slipway users …`)
// need: settings, logging, records and users, with no listener and no worker.
func Core(s *settings.Settings) fx.Option {
	return fx.Options(
		fx.Supply(s),
		logging.Module,
		logging.FxLogger,
		storage.Module,
		auth.Module,
		users.Module,
	)
}
