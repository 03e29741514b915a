// Command xasecheck checks a Xase log the way a Go client of golang.org/x/mod/sumdb would: the checkpoint's
// signature with note.Open, inclusion and consistency proofs with tlog.CheckRecord and tlog.CheckTree, and,
// given the log's URL, the tiles themselves through tlog.TileHashReader (which proves every tile it reads
// against the checkpoint's root) and the tree hash and proofs they give.
//
// Given witness vkeys, it requires their C2SP cosignature/v1 lines (key type 0x04) among the checkpoint's signatures,
// verified with crypto/ed25519 through the note.Verifier interface; given a seed, it cosigns the checkpoint as a
// witness would and answers the line.
//
// It reads one JSON job on stdin and writes one JSON answer on stdout; it exits 1 at the first check that fails.
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o xasecheck ./tests/interop/xasecheck
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

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
	Witnesses   []string      `json:"witnesses"`   // cosigner vkeys (type 0x04) whose cosignatures must verify
	CosignSeed  string        `json:"cosign_seed"` // hex Ed25519 seed: cosign the checkpoint as a witness would
	CosignName  string        `json:"cosign_name"`
}

type answer struct {
	Origin        string     `json:"origin"`
	Size          int64      `json:"size"`
	Root          string     `json:"root"`
	SignedBy      []string   `json:"signed_by"`
	TileTreeHash  string     `json:"tile_tree_hash,omitempty"`
	TileInclusion [][]string `json:"tile_inclusion,omitempty"`
	TileConsist   [][]string `json:"tile_consistency,omitempty"`
	Cosignature   string     `json:"cosignature,omitempty"`
}

// cosigner is a C2SP tlog-cosignature v1 key (type 0x04) as a note.Verifier and note.Signer: the signature is an
// 8-byte big-endian timestamp and Ed25519 over "cosignature/v1\ntime <t>\n" and the note text.
type cosigner struct {
	name    string
	hash    uint32
	public  ed25519.PublicKey
	private ed25519.PrivateKey
}

func cosignerHash(name string, public ed25519.PublicKey) uint32 {
	h := sha256.Sum256(append(append([]byte(name+"\n"), 0x04), public...))
	return binary.BigEndian.Uint32(h[:4])
}

func parseCosigner(vkey string) cosigner {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		fail("witness vkey: %q", vkey)
	}
	key, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(key) != 33 || key[0] != 0x04 {
		fail("witness vkey: expected type 0x04 and 32 bytes: %q", vkey)
	}
	c := cosigner{name: parts[0], public: ed25519.PublicKey(key[1:])}
	c.hash = cosignerHash(c.name, c.public)
	if fmt.Sprintf("%08x", c.hash) != parts[1] {
		fail("witness vkey: key hash %s, computed %08x", parts[1], c.hash)
	}
	return c
}

func cosignedMessage(timestamp uint64, msg []byte) []byte {
	return append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", timestamp)), msg...)
}

func (c cosigner) Name() string    { return c.name }
func (c cosigner) KeyHash() uint32 { return c.hash }
func (c cosigner) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(c.public, cosignedMessage(binary.BigEndian.Uint64(sig[:8]), msg), sig[8:])
}
func (c cosigner) Sign(msg []byte) ([]byte, error) {
	timestamp := uint64(time.Now().Unix())
	sig := make([]byte, 8, 8+ed25519.SignatureSize)
	binary.BigEndian.PutUint64(sig, timestamp)
	return append(sig, ed25519.Sign(c.private, cosignedMessage(timestamp, msg))...), nil
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
	var cosigLine string
	if err := json.NewDecoder(os.Stdin).Decode(&j); err != nil {
		fail("reading the job: %v", err)
	}
	verifier, err := note.NewVerifier(j.Vkey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	verifiers := []note.Verifier{verifier}
	for _, vkey := range j.Witnesses {
		verifiers = append(verifiers, parseCosigner(vkey))
	}
	n, err := note.Open([]byte(j.Checkpoint), note.VerifierList(verifiers...))
	if err != nil {
		fail("checkpoint: %v", err)
	}
	for _, vkey := range j.Witnesses {
		found := false
		for _, sig := range n.Sigs {
			found = found || sig.Name == parseCosigner(vkey).name
		}
		if !found {
			fail("no cosignature by %s", vkey)
		}
	}
	if j.CosignSeed != "" {
		seed, err := hex.DecodeString(j.CosignSeed)
		if err != nil || len(seed) != ed25519.SeedSize {
			fail("cosign seed: %v", err)
		}
		private := ed25519.NewKeyFromSeed(seed)
		c := cosigner{name: j.CosignName, private: private, public: private.Public().(ed25519.PublicKey)}
		c.hash = cosignerHash(c.name, c.public)
		signed, err := note.Sign(&note.Note{Text: n.Text}, c)
		if err != nil {
			fail("cosigning: %v", err)
		}
		text := string(signed)
		cosig := text[strings.LastIndex(text, "\n\n")+2:]
		cosigLine = cosig
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
	a := answer{Origin: lines[0], Size: size, Root: lines[2], Cosignature: cosigLine}
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
