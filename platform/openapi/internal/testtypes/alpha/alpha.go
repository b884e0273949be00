// Package alpha holds a type whose name, Item, also exists in package beta,
// so the openapi tests can check how Build names colliding component schemas.
package alpha

// Item is an item as package alpha sees it.
type Item struct {
	ID string `json:"id"`
}
