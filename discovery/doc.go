// Package discovery finds the seeds a node joins its mesh through, at run
// time, for Options.SeedProvider: a Provider returns route URLs of nodes
// to join through (nats://host:port).
//
// The providers are Static (a fixed list), DNS (the A/AAAA records of one
// name, such as a Kubernetes headless service), SRV (SRV records), File (a
// seed file, re-read when it changes; the format of Options.PeersFile),
// Multi (several providers at once) and ProviderFunc (a function of the
// application's).
//
// Every error a provider returns matches ErrDiscovery (errors.Is); ErrNoSeeds
// says the source answered but knows no node yet, ErrSeed that a URL is
// bad. Messages start with "natsmesh: ", like every error of natsmesh.
package discovery
