// bbolt-dump FILE: runs bbolt's own tx.Check on FILE and prints every bucket entry as
// "bucket<TAB>key-hex<TAB>value-hex", in order. Real bbolt (go.etcd.io/bbolt from
// /usr/share/gocode) is the oracle for files etcd-swift writes. Build in GOPATH mode:
//   GO111MODULE=off GOPATH=/usr/share/gocode go run tools/bbolt-dump/main.go FILE
package main

import (
	"encoding/hex"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: bbolt-dump FILE")
		os.Exit(2)
	}
	db, err := bolt.Open(os.Args[1], 0400, &bolt.Options{ReadOnly: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(1)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		failed := 0
		for e := range tx.Check() {
			fmt.Fprintln(os.Stderr, "check:", e)
			failed++
		}
		if failed > 0 {
			return fmt.Errorf("%d integrity errors", failed)
		}
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				fmt.Printf("%s\t%s\t%s\n", name, hex.EncodeToString(k), hex.EncodeToString(v))
				return nil
			})
		})
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
