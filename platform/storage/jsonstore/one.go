package jsonstore

import (
	"context"
	"fmt"
)

// GetOne reads the document with id in a View of its own: the whole of a
// store's lookup by id. The error is Get's (matching derrors.ErrNotFound
// when there is no such document) or the View's.
func (c *Collection[T]) GetOne(ctx context.Context, id string) (*T, error) {
	var v T
	err := c.s.View(ctx, func(tx *Tx) error {
		var err error
		v, err = c.Get(tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// UpdateOne is the read-modify-write of the document with id in an Update
// of its own, so no other writer runs between the read and the write: it
// reads the document, passes it to fn and puts what fn left, returning the
// document as stored. fn's own error abandons the update and is returned
// unchanged; Get's error matches derrors.ErrNotFound when there is no such
// document. The id is not fn's to change: a renamed document is an error and
// nothing is written, as with the PostgreSQL stores, which write by key.
func (c *Collection[T]) UpdateOne(ctx context.Context, id string, fn func(*T) error) (*T, error) {
	var v T
	err := c.s.Update(ctx, func(tx *Tx) error {
		var err error
		if v, err = c.Get(tx, id); err != nil {
			return err
		}
		if err := fn(&v); err != nil {
			return err
		}
		if got := c.spec.ID(&v); got != id {
			return fmt.Errorf("%s.UpdateOne(%q): the update changed the id to %q", c.meta.name, id, got)
		}
		return c.Put(tx, &v)
	})
	if err != nil {
		return nil, err
	}
	return &v, nil
}
