// Package projects owns projects: named containers for a team's repositories,
// each owned by the user who made it. Only the owner sees a project; operators
// and root may read every project, and only the owner or root may change one.
package projects
