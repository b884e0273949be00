package users

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/slipwayhq/slipway/platform/auth"
	"github.com/slipwayhq/slipway/platform/clientip"
	"github.com/slipwayhq/slipway/platform/derrors"
	"github.com/slipwayhq/slipway/platform/identity"
	"github.com/slipwayhq/slipway/platform/ids"
	"github.com/slipwayhq/slipway/platform/ratelimit"
	"github.com/slipwayhq/slipway/platform/settings"
	"github.com/slipwayhq/slipway/platform/storage/page"
)

// Service holds the rules about users: sign-up, login, lookups for the guard.
type Service struct {
	store   Store
	hasher  auth.Hasher
	tokens  *auth.HMACTokens // nil in cognito mode
	signup  bool
	byEmail *ratelimit.Limiter
	byIP    *ratelimit.Limiter
	signups *ratelimit.Limiter // per client address
	log     *zap.Logger
	now     func() time.Time
	// dummyHash makes a login for an unknown email cost what a real one does,
	// so response time does not reveal which emails exist.
	dummyHash string
	cache     *userCache
}

var _ auth.PrincipalSource = (*Service)(nil)

// NewService builds the service.
func NewService(store Store, hasher auth.Hasher, tokens *auth.HMACTokens, s *settings.Settings, log *zap.Logger) (*Service, error) {
	return &Service{
		store: store, hasher: hasher, tokens: tokens, signup: s.Auth.SignupEnabled,
		byEmail:   ratelimit.New(s.Auth.LoginLimitPerEmail, s.Auth.LoginLimitWindow),
		byIP:      ratelimit.New(s.Auth.LoginLimitPerIP, s.Auth.LoginLimitWindow),
		signups:   ratelimit.New(s.Auth.SignupLimitPerIP, s.Auth.SignupLimitWindow),
		dummyHash: hasher.DummyHash(),
		log:       log.Named("users"), now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		// A store nobody else writes to is always in step with the cache; one
		// that others write to must first report that it is listening.
		cache: newUserCache(!isWatched(store), userCacheTTL, userCacheSize),
	}, nil
}

// Session is a user with a fresh access token.
type Session struct {
	User      *User
	Token     string
	ExpiresIn time.Duration
}

// CreateInput is what a new user is made of.
type CreateInput struct {
	Email       string
	Password    string
	DisplayName string
	Groups      []string
}

// Create stores a new local user (sign-up and the `users create` command).
func (s *Service) Create(ctx context.Context, in CreateInput) (*User, error) {
	email := NormalizeEmail(in.Email)
	var fields []derrors.FieldError
	if r := checkEmail(email); r != "" {
		fields = append(fields, derrors.FieldError{Field: "email", Reason: r})
	}
	if r := checkPassword(in.Password); r != "" {
		fields = append(fields, derrors.FieldError{Field: "password", Reason: r})
	}
	if r := checkDisplayName(in.DisplayName); r != "" {
		fields = append(fields, derrors.FieldError{Field: "display_name", Reason: r})
	}
	fields = append(fields, checkGroups("groups", in.Groups)...)
	if len(fields) > 0 {
		return nil, derrors.Validation(fields...)
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	now := s.now()
	groups := in.Groups
	if groups == nil {
		groups = []string{}
	}
	u := &User{
		ID: ids.New(IDPrefix), Email: email, DisplayName: in.DisplayName, PasswordHash: hash,
		Groups: groups, CreatedAt: now, UpdatedAt: now,
	}
	if err := s.store.Create(ctx, u); err != nil {
		if errors.Is(err, derrors.ErrConflict) {
			return nil, derrors.New(derrors.CodeEmailTaken, "an account with this email already exists").WithCause(err)
		}
		return nil, err
	}
	s.log.Info("user created", zap.String("user_id", u.ID), zap.Strings("groups", u.Groups))
	return u, nil
}

// SignUp creates a user and signs them in, when sign-up is enabled. Each
// client address has a few sign-ups per window: every one costs a password
// hash and a stored record.
func (s *Service) SignUp(ctx context.Context, in CreateInput, client netip.Addr) (*Session, error) {
	if !s.signup {
		return nil, derrors.New(derrors.CodeSignupDisabled, "sign-up is disabled on this server")
	}
	if ok, retry := s.signups.Allow(clientip.LimitKey(client)); !ok {
		return nil, derrors.TooMany(derrors.CodeRateLimited, "too many sign-ups from this address", retry)
	}
	in.Groups = nil // nobody signs themselves up into a group
	u, err := s.Create(ctx, in)
	if err != nil {
		return nil, err
	}
	return s.session(u)
}

var errBadCredentials = derrors.New(derrors.CodeInvalidCredentials, "email or password is wrong")

// Login checks an email and password, rate limited per email and per client
// address. An unknown email, a wrong password and a disabled account all get
// the same answer.
func (s *Service) Login(ctx context.Context, email, password string, client netip.Addr) (*Session, error) {
	email = NormalizeEmail(email)
	if ok, retry := s.byIP.Allow(clientip.LimitKey(client)); !ok {
		return nil, derrors.TooMany(derrors.CodeRateLimited, "too many login attempts from this address", retry)
	}
	if ok, retry := s.byEmail.Allow(email); !ok {
		return nil, derrors.TooMany(derrors.CodeRateLimited, "too many login attempts for this account", retry)
	}
	u, err := s.store.GetByEmail(ctx, email)
	if errors.Is(err, derrors.ErrNotFound) || (err == nil && u.PasswordHash == "") {
		// The same cost, and under load the same 503, as a real check: an
		// unknown email must not answer faster or differently.
		if _, err := s.hasher.Verify(ctx, s.dummyHash, password); err != nil {
			return nil, err
		}
		return nil, errBadCredentials
	}
	if err != nil {
		return nil, err
	}
	ok, err := s.hasher.Verify(ctx, u.PasswordHash, password)
	if err != nil {
		return nil, err
	}
	if !ok || u.Disabled {
		return nil, errBadCredentials
	}
	return s.session(u)
}

func (s *Service) session(u *User) (*Session, error) {
	if s.tokens == nil {
		return nil, derrors.New(derrors.CodeNotFound, "local login is not available in this auth mode")
	}
	tok, err := s.tokens.Issue(u.ID)
	if err != nil {
		return nil, err
	}
	return &Session{User: u, Token: tok, ExpiresIn: s.tokens.TTL()}, nil
}

// Get returns a user by id.
func (s *Service) Get(ctx context.Context, id string) (*User, error) {
	u, err := s.store.Get(ctx, id)
	if errors.Is(err, derrors.ErrNotFound) {
		return nil, derrors.NotFound("user", id)
	}
	return u, err
}

// Bounds of the user cache the guard reads from.
const (
	userCacheTTL  = 30 * time.Second
	userCacheSize = 10_000
)

func isWatched(store Store) bool {
	_, ok := store.(changeWatcher)
	return ok
}

// Watch keeps the cache in step with writes made by other instances, until
// ctx ends. It returns at once for stores only this process writes to.
func (s *Service) Watch(ctx context.Context) {
	if w, ok := s.store.(changeWatcher); ok {
		w.WatchChanges(ctx, s.cache.evict, s.cache.setReliable)
	}
}

// cachedUser reads a user for the guard through the cache.
func (s *Service) cachedUser(ctx context.Context, id string) (*User, error) {
	if u, ok := s.cache.get(id); ok {
		return u, nil
	}
	gen := s.cache.generation()
	u, err := s.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	s.cache.put(gen, u)
	return u, nil
}

// Principal resolves verified claims to a live user for the auth guard.
func (s *Service) Principal(ctx context.Context, c auth.Claims) (identity.Principal, error) {
	if c.External {
		return s.externalPrincipal(ctx, c)
	}
	u, err := s.cachedUser(ctx, c.Subject)
	if errors.Is(err, derrors.ErrNotFound) {
		return identity.Principal{}, auth.ErrUserInactive
	}
	if err != nil {
		return identity.Principal{}, err
	}
	if u.Disabled {
		return identity.Principal{}, auth.ErrUserInactive
	}
	return u.Principal(), nil
}

// externalIDPrefix makes a user id from an identity provider's subject, so
// every user id keeps the usr_ prefix.
const externalIDPrefix = string(IDPrefix) + "_"

// externalPrincipal finds or creates the user of an identity-provider token:
// the first request creates the record, later ones refresh email and groups
// when they changed. A user disabled here is refused whatever the token says.
func (s *Service) externalPrincipal(ctx context.Context, c auth.Claims) (identity.Principal, error) {
	if !validSubject(c.Subject) {
		return identity.Principal{}, fmt.Errorf("%w: unusable subject", auth.ErrInvalidToken)
	}
	id := externalIDPrefix + c.Subject
	email := NormalizeEmail(c.Email)
	if checkEmail(email) != "" {
		email = ""
	}
	groups := knownGroups(c.Groups)
	u, err := s.cachedUser(ctx, id)
	if errors.Is(err, derrors.ErrNotFound) {
		u, err = s.createExternal(ctx, id, email, c.Username, groups)
	}
	if err != nil {
		return identity.Principal{}, err
	}
	if u.Disabled {
		return identity.Principal{}, auth.ErrUserInactive
	}
	if (email != "" && u.Email != email) || !slices.Equal(u.ExternalGroups, groups) {
		defer s.cache.evict(id)
		u, err = s.store.Update(ctx, id, func(u *User) error {
			if email != "" {
				u.Email = email
			}
			u.ExternalGroups = groups
			u.UpdatedAt = s.now()
			return nil
		})
		if errors.Is(err, derrors.ErrConflict) {
			// The new email belongs to another account: keep the old one.
			u, err = s.store.Update(ctx, id, func(u *User) error { u.ExternalGroups = groups; return nil })
		}
		if err != nil {
			return identity.Principal{}, err
		}
		if u.Disabled {
			return identity.Principal{}, auth.ErrUserInactive
		}
	}
	return u.Principal(), nil
}

func (s *Service) createExternal(ctx context.Context, id, email, username string, groups []string) (*User, error) {
	now := s.now()
	name := username
	if checkDisplayName(name) != "" {
		name = ""
	}
	u := &User{ID: id, Email: email, DisplayName: name, Groups: []string{}, ExternalGroups: groups,
		External: true, CreatedAt: now, UpdatedAt: now}
	err := s.store.Create(ctx, u)
	if errors.Is(err, derrors.ErrConflict) {
		if got, gerr := s.store.Get(ctx, id); gerr == nil {
			return got, nil // a concurrent first request created it
		}
		// The email is another account's: create the user without it.
		u.Email = ""
		err = s.store.Create(ctx, u)
	}
	if err != nil {
		return nil, err
	}
	s.log.Info("user created from identity provider", zap.String("user_id", u.ID), zap.Strings("groups", groups))
	return u, nil
}

// validSubject accepts the subjects identity providers use (Cognito: a UUID).
func validSubject(sub string) bool {
	if sub == "" || len(sub) > 128 {
		return false
	}
	for _, r := range sub {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// List pages through every user (root).
func (s *Service) List(ctx context.Context, req page.Request) (page.Result[User], error) {
	return s.store.List(ctx, req)
}

// AdminChanges is what root may change about a user.
type AdminChanges struct {
	Groups   *[]string
	Disabled *bool
}

// AdminUpdate changes a user's groups or disabled flag. Root cannot take away
// its own root group or disable itself: that would lock the last door.
func (s *Service) AdminUpdate(ctx context.Context, caller identity.Principal, id string, ch AdminChanges) (*User, error) {
	if ch.Groups != nil {
		if fields := checkGroups("groups", *ch.Groups); len(fields) > 0 {
			return nil, derrors.Validation(fields...)
		}
	}
	defer s.cache.evict(id)
	u, err := s.store.Update(ctx, id, func(u *User) error {
		if ch.Groups != nil {
			u.Groups = slices.Clone(*ch.Groups)
			slices.Sort(u.Groups)
		}
		if ch.Disabled != nil {
			u.Disabled = *ch.Disabled
		}
		if u.ID == caller.ID {
			if u.Disabled {
				return derrors.New(derrors.CodeConflict, "you cannot disable your own account")
			}
			if !slices.Contains(u.EffectiveGroups(), identity.GroupRoot) {
				return derrors.New(derrors.CodeConflict, "you cannot remove your own root group")
			}
		}
		u.UpdatedAt = s.now()
		return nil
	})
	if errors.Is(err, derrors.ErrNotFound) {
		return nil, derrors.NotFound("user", id)
	}
	if err != nil {
		return nil, err
	}
	s.log.Info("user changed by root", zap.String("user_id", u.ID), zap.String("by", caller.ID),
		zap.Strings("groups", u.Groups), zap.Bool("disabled", u.Disabled))
	return u, nil
}
