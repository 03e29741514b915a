// Command xasecheck checks a Xase log the way a Go client of golang.org/x/mod/sumdb would: the checkpoint's
// signature with note.Open, inclusion and consistency proofs with tlog.CheckRecord and tlog.CheckTree, and,
// given the log's URL, the tiles themselves through tlog.TileHashReader (which proves every tile it reads
// against the checkpoint's root) and the tree hash and proofs they give.
//
// It reads one JSON job on stdin and writes one JSON answer on stdout; it exits 1 at the first check that fails.
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o xasecheck ./tests/interop/xasecheck
package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type inclusion struct {
	Index      int64    `json:"index"`
	RecordHash string   `json:"record_hash"`
	Proof      []string `json:"proof"`
}

type consistency struct {
	Old     int64    `json:"old"`
	OldRoot string   `json:"old_root"`
	Proof   []string `json:"proof"`
}

type job struct {
	Vkey        string        `json:"vkey"`
	Checkpoint  string        `json:"checkpoint"`
	LogURL      string        `json:"log_url"`
	APIKey      string        `json:"api_key"`
	Inclusion   []inclusion   `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
	ProveIndex  []int64       `json:"prove_index"`
	ProveOld    []int64       `json:"prove_old"`
}

type answer struct {
	Origin        string     `json:"origin"`
	Size          int64      `json:"size"`
	Root          string     `json:"root"`
	SignedBy      []string   `json:"signed_by"`
	TileTreeHash  string     `json:"tile_tree_hash,omitempty"`
	TileInclusion [][]string `json:"tile_inclusion,omitempty"`
	TileConsist   [][]string `json:"tile_consistency,omitempty"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "xasecheck: "+format+"\n", args...)
	os.Exit(1)
}

func hashOf(text string) tlog.Hash {
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil || len(raw) != tlog.HashSize {
		fail("not a base64 hash: %q", text)
	}
	var h tlog.Hash
	copy(h[:], raw)
	return h
}

func hashes(texts []string) []tlog.Hash {
	out := make([]tlog.Hash, len(texts))
	for i, text := range texts {
		out[i] = hashOf(text)
	}
	return out
}

func encode(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}

// tileReader fetches C2SP tiles (tile/<L>/<N>[.p/<W>]: Go's paths without the height) from the log.
type tileReader struct {
	url, key string
}

func (r tileReader) Height() int { return 8 }

func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		path := strings.TrimPrefix(t.Path(), "tile/8/")
		request, _ := http.NewRequest("GET", r.url+"/tile/"+path, nil)
		request.Header.Set("X-API-Key", r.key)
		response, err := http.DefaultClient.Do(request)
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(response.Body)
		response.Body.Close()
		if response.StatusCode != 200 {
			return nil, fmt.Errorf("tile %s: HTTP %d: %s", path, response.StatusCode, data)
		}
		out[i] = data
	}
	return out, nil
}

func (r tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func main() {
	var j job
	if err := json.NewDecoder(os.Stdin).Decode(&j); err != nil {
		fail("reading the job: %v", err)
	}
	verifier, err := note.NewVerifier(j.Vkey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	n, err := note.Open([]byte(j.Checkpoint), note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("checkpoint: expected origin, size and root lines, got %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		fail("checkpoint size: %q", lines[1])
	}
	tree := tlog.Tree{N: size, Hash: hashOf(lines[2])}
	a := answer{Origin: lines[0], Size: size, Root: lines[2]}
	for _, sig := range n.Sigs {
		a.SignedBy = append(a.SignedBy, sig.Name)
	}
	for _, inc := range j.Inclusion {
		record, err := hex.DecodeString(inc.RecordHash)
		if err != nil {
			fail("record hash: %v", err)
		}
		if err := tlog.CheckRecord(hashes(inc.Proof), tree.N, tree.Hash, inc.Index, tlog.RecordHash(record)); err != nil {
			fail("inclusion of %d in %d: %v", inc.Index, tree.N, err)
		}
	}
	for _, c := range j.Consistency {
		if err := tlog.CheckTree(hashes(c.Proof), tree.N, tree.Hash, c.Old, hashOf(c.OldRoot)); err != nil {
			fail("consistency of %d with %d: %v", c.Old, tree.N, err)
		}
	}
	if j.LogURL != "" {
		reader := tlog.TileHashReader(tree, tileReader{j.LogURL, j.APIKey})
		th, err := tlog.TreeHash(tree.N, reader)
		if err != nil {
			fail("tree hash from tiles: %v", err)
		}
		if th != tree.Hash {
			fail("tree hash from tiles: %v, checkpoint says %v", th, tree.Hash)
		}
		a.TileTreeHash = base64.StdEncoding.EncodeToString(th[:])
		for _, index := range j.ProveIndex {
			proof, err := tlog.ProveRecord(tree.N, index, reader)
			if err != nil {
				fail("proving %d from tiles: %v", index, err)
			}
			a.TileInclusion = append(a.TileInclusion, encode(proof))
		}
		for _, old := range j.ProveOld {
			proof, err := tlog.ProveTree(tree.N, old, reader)
			if err != nil {
				fail("proving %d from tiles: %v", old, err)
			}
			a.TileConsist = append(a.TileConsist, encode(proof))
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(a); err != nil {
		fail("writing the answer: %v", err)
	}
}
