// Package beta holds a type whose name, Item, also exists in package alpha,
// so the openapi tests can check how Build names colliding component schemas.
package beta

// Item is an item as package beta sees it.
type Item struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}
