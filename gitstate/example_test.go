package gitstate_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/mailtwin/mailtwin/gitstate"
)

// A run: lock, read the agreed state, write the new one, commit it.
func Example() {
	dir, err := os.MkdirTemp("", "mailtwin-state")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	repo, err := gitstate.Open(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	unlock, err := repo.Lock(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer unlock()

	old, err := repo.Files(ctx, "work")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("files before:", len(old))

	err = repo.Stage(ctx, "work", map[string][]byte{
		"INBOX.state": []byte("# mailtwin state v1\n1 7 \\Seen m:3fa9c1d2e4b5a6978899aabb\n"),
	})
	if err != nil {
		log.Fatal(err)
	}
	c, err := repo.Commit(ctx, "sync: work +1 a→b\n\n+ a→b INBOX uid 1 → 7 m:3fa9c1d2e4b5a6978899aabb")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("committed:", c.Subject)

	now, err := repo.Files(ctx, "work")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s", now["INBOX.state"])
	// Output:
	// files before: 0
	// committed: sync: work +1 a→b
	// # mailtwin state v1
	// 1 7 \Seen m:3fa9c1d2e4b5a6978899aabb
}
