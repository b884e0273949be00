// Package runs owns agent runs: the API that queues them, the worker that
// clones the repository, runs the agent in a container, streams its log into
// the object store and keeps its patch, and the lifecycle that cleans up what
// a crashed or stopped instance left behind.
//
// A run moves queued → preparing → running → succeeded | failed | canceled |
// timed_out | interrupted, one legal step at a time, each checked inside the
// store's transaction; terminal states are final. The queue holds ids only:
// a run is waiting exactly when its record says queued.
//
// Each process start is an instance with its own id, recorded in the store
// with a heartbeat. Containers are labelled with the instance id; an
// instance reaps only the containers of instances its store knows to be dead
// (heartbeat older than three intervals, or, on the same machine, a process
// that no longer exists), never those of a live instance nor unlabelled ones
// nor those of instances it has never heard of (another deployment sharing
// the Docker host).
package runs
