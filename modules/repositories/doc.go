// Package repositories owns the git repositories of a project: where runs
// clone from (a URL) and which branch they start on. A repository belongs to
// one project and has no owner of its own: whoever may see the project sees
// its repositories, whoever may change the project may change them, and a
// repository of a project the caller cannot see does not exist for them.
//
// The URL policy (url.go) decides which URLs may be stored: https and ssh
// remotes, local ones only where settings allow, and never a host on a
// private network unless settings allow that too.
package repositories
