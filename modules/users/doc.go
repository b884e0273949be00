// Package users owns user records, sign-up and login in custom auth mode, the
// current-user route, and the PrincipalSource that the auth guard asks on
// every request, so a disabled or deleted user is refused at once.
package users
