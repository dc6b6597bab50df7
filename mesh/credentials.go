package mesh

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"

	"github.com/nats-io/nkeys"
)

type credentials struct {
	key ed25519.PrivateKey
	pub string // the public key, as an nkey
}

// newCredentials makes a user nkey. It keeps the Ed25519 key itself:
// nkeys' KeyPair derives it from the seed again for every public key and
// every signature, each time the cost of a key generation.
func newCredentials() (credentials, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return credentials{}, fmt.Errorf("natsmesh: internal nkey: %w", err)
	}
	enc, err := nkeys.Encode(nkeys.PrefixByteUser, pub)
	if err != nil {
		return credentials{}, fmt.Errorf("natsmesh: internal nkey: %w", err)
	}
	return credentials{key: key, pub: string(enc)}, nil
}

// sign signs a server nonce, as nats.Nkey's callback does.
func (c credentials) sign(nonce []byte) ([]byte, error) { return ed25519.Sign(c.key, nonce), nil }
