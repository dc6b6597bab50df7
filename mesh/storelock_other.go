//go:build !unix

package mesh

import "os"

// lockStore makes the store directory; other systems than Unix get no
// lock (two nodes given one StoreDir are not detected there).
func lockStore(dir string) (*os.File, error) {
	return nil, os.MkdirAll(dir, 0o750)
}
