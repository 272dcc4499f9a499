package codes

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// seeded returns a deterministic random source.
func seededRand(seed byte) *rand.ChaCha8 { return rand.NewChaCha8([32]byte{seed}) }

// zeroRand is a random source that always yields 0, so every random code is the
// same: it exercises the bounded attempts and the exhaustive scan.
type zeroRand struct{}

func (zeroRand) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// publishCodes publishes n codes from camp with distinct keys and returns them.
func publishCodes(t *testing.T, c *Memory, camp string, n int) []string {
	t.Helper()
	var codes []string
	for i := range n {
		p, err := c.Publish(context.Background(), PublishRequest{Key: camp + "/" + strconv.Itoa(i), CampaignID: camp, CustomerID: "cust_" + strconv.Itoa(i)})
		if err != nil {
			t.Fatalf("Publish #%d from %s: %v", i, camp, err)
		}
		codes = append(codes, p.Code)
	}
	return codes
}

func TestCharsets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		charset string
		want    string // every character a code may contain (all must appear)
	}{
		{"", charsetDigits + charsetLower + charsetUpper},
		{CharsetAlphanumeric, charsetDigits + charsetLower + charsetUpper},
		{CharsetAlphabetic, charsetLower + charsetUpper},
		{CharsetLowercase, charsetLower},
		{CharsetUppercase, charsetUpper},
		{CharsetNumbers, charsetDigits},
		{"ABCDEFGHJKLMNPQRSTUVWXYZ23456789", "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"},
		{"αβγδ", "αβγδ"},
		{"xy", "xy"},
	}
	for _, tt := range tests {
		t.Run(tt.charset, func(t *testing.T) {
			t.Parallel()
			c := NewMemory(Config{Rand: seededRand(1)})
			camp, err := c.CreateCampaign(context.Background(), Campaign{Name: "c", Code: CodeConfig{Charset: tt.charset, Length: 12}})
			if err != nil {
				t.Fatal(err)
			}
			wantName := tt.charset
			if wantName == "" {
				wantName = CharsetAlphanumeric
			}
			if camp.Code.Charset != wantName {
				t.Errorf("normalized Charset = %q, want %q", camp.Code.Charset, wantName)
			}
			seen := map[rune]bool{}
			for _, code := range publishCodes(t, c, camp.ID, 300) {
				if n := utf8.RuneCountInString(code); n != 12 {
					t.Fatalf("code %q has %d characters, want 12", code, n)
				}
				for _, r := range code {
					if !strings.ContainsRune(tt.want, r) {
						t.Fatalf("code %q has %q, not in charset %q", code, r, tt.want)
					}
					seen[r] = true
				}
			}
			if len(seen) != utf8.RuneCountInString(tt.want) {
				t.Errorf("3600 random characters used %d distinct characters, want all %d of %q", len(seen), utf8.RuneCountInString(tt.want), tt.want)
			}
		})
	}
}

func TestCodeShape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  CodeConfig
		want string // regexp of the whole code
		norm CodeConfig
	}{
		{"default", CodeConfig{}, `^[0-9a-zA-Z]{8}$`, CodeConfig{Charset: CharsetAlphanumeric, Length: 8}},
		{"length", CodeConfig{Length: 3, Charset: CharsetNumbers}, `^[0-9]{3}$`, CodeConfig{Charset: CharsetNumbers, Length: 3}},
		{"prefix", CodeConfig{Prefix: "SPRING-2024-", Pattern: "###"}, `^SPRING-2024-[0-9a-zA-Z]{3}$`, CodeConfig{Charset: CharsetAlphanumeric, Prefix: "SPRING-2024-", Pattern: "###"}},
		{"postfix", CodeConfig{Postfix: "-X", Length: 4, Charset: CharsetUppercase}, `^[A-Z]{4}-X$`, CodeConfig{Charset: CharsetUppercase, Length: 4, Postfix: "-X"}},
		{"pattern", CodeConfig{Pattern: "WELCOME-####", Charset: CharsetLowercase}, `^WELCOME-[a-z]{4}$`, CodeConfig{Charset: CharsetLowercase, Pattern: "WELCOME-####"}},
		{"pattern overrides length", CodeConfig{Pattern: "#-#", Length: 10, Charset: CharsetNumbers}, `^[0-9]-[0-9]$`, CodeConfig{Charset: CharsetNumbers, Pattern: "#-#"}},
		{"hash in prefix and postfix stays", CodeConfig{Prefix: "#A", Postfix: "B#", Pattern: "##"}, `^#A[0-9a-zA-Z]{2}B#$`, CodeConfig{Charset: CharsetAlphanumeric, Prefix: "#A", Postfix: "B#", Pattern: "##"}},
		{"all parts", CodeConfig{Prefix: "P", Pattern: "x#y#z", Postfix: "Q", Charset: "ab"}, `^Px[ab]y[ab]zQ$`, CodeConfig{Charset: "ab", Prefix: "P", Pattern: "x#y#z", Postfix: "Q"}},
		{"unicode pattern", CodeConfig{Pattern: "ÄÖ-##", Charset: "αβ"}, `^ÄÖ-[αβ]{2}$`, CodeConfig{Charset: "αβ", Pattern: "ÄÖ-##"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := NewMemory(Config{Rand: seededRand(2)})
			camp, err := c.CreateCampaign(context.Background(), Campaign{Name: "c", Code: tt.cfg})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.norm, camp.Code); diff != "" {
				t.Errorf("normalized config (-want +got):\n%s", diff)
			}
			re := regexp.MustCompile(tt.want)
			for _, code := range publishCodes(t, c, camp.ID, 4) {
				if !re.MatchString(code) {
					t.Errorf("code %q does not match %s", code, tt.want)
				}
			}
		})
	}
}

func TestCodeConfigCapacity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg  CodeConfig
		want uint64
	}{
		{CodeConfig{}, 218340105584896}, // 62^8
		{CodeConfig{Charset: CharsetNumbers, Pattern: "A-###"}, 1000},
		{CodeConfig{Charset: CharsetAlphabetic, Length: 2}, 52 * 52},
		{CodeConfig{Charset: "αβγ", Length: 3, Prefix: "###"}, 27},
		{CodeConfig{Length: 128}, ^uint64(0)}, // saturated
	}
	for _, tt := range tests {
		got, err := tt.cfg.Capacity()
		if err != nil || got != tt.want {
			t.Errorf("%+v.Capacity() = %d, %v; want %d", tt.cfg, got, err, tt.want)
		}
	}
}

func TestCodeConfigInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  CodeConfig
		want string // prefix of the error: the field
	}{
		{"one-char charset", CodeConfig{Charset: "a"}, "code.charset: "},
		{"repeated char", CodeConfig{Charset: "abca"}, "code.charset: character 4 ('a') repeats character 1"},
		{"space in charset", CodeConfig{Charset: "ab c"}, "code.charset: character 3"},
		{"huge charset", CodeConfig{Charset: string(func() []rune {
			r := make([]rune, 300)
			for i := range r {
				r[i] = rune(0x4e00 + i)
			}
			return r
		}())}, "code.charset: a custom set has 300 characters"},
		{"capitalized name", CodeConfig{Charset: "Alphanumeric"}, `code.charset: "Alphanumeric" is not a charset name; did you mean "alphanumeric"?`},
		{"negative length", CodeConfig{Length: -1}, "code.length: -1 is negative"},
		{"long length", CodeConfig{Length: 129}, "code.length: 129 exceeds 128"},
		{"pattern without hash", CodeConfig{Pattern: "FIXED"}, `code.pattern: "FIXED" has no #`},
		{"space in prefix", CodeConfig{Prefix: "A B"}, "code.prefix: "},
		{"control in postfix", CodeConfig{Postfix: "\x00"}, "code.postfix: "},
		{"too long", CodeConfig{Prefix: strings.Repeat("P", 100), Length: 40}, "code.length: codes would be 140 characters long"},
		{"bad utf-8", CodeConfig{Pattern: "#\xff"}, "code.pattern: not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.cfg.Capacity()
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Capacity() error = %v, want prefix %q wrapping ErrInvalid", err, tt.want)
			}
			c := NewMemory(Config{})
			if _, err := c.CreateCampaign(context.Background(), Campaign{Name: "c", Code: tt.cfg}); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("CreateCampaign error = %v, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestRandIntnRejectsBias(t *testing.T) {
	t.Parallel()
	// For n = 10, bytes >= 250 would bias the result towards 0-5 and must be
	// skipped: 255 and 250 are rejected, 249 gives 9, 3 gives 3.
	src := make([]byte, 256)
	copy(src, []byte{255, 250, 249, 3})
	rb := newRandBytes(bytes.NewReader(src))
	var got []int
	for range 2 {
		v, err := rb.intn(10)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if diff := cmp.Diff([]int{9, 3}, got); diff != "" {
		t.Errorf("intn(10) (-want +got):\n%s", diff)
	}
	// Two bytes for n > 256.
	rb = newRandBytes(bytes.NewReader(append([]byte{1, 2}, make([]byte, 254)...)))
	if v, err := rb.intn(1000); err != nil || v != 258%1000 {
		t.Errorf("intn(1000) = %d, %v; want 258", v, err)
	}
}

func TestRandomSourceError(t *testing.T) {
	t.Parallel()
	c := NewMemory(Config{Rand: bytes.NewReader(nil)})
	camp, err := c.CreateCampaign(context.Background(), Campaign{Name: "c"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Publish(context.Background(), PublishRequest{Key: "k", CampaignID: camp.ID, CustomerID: "cust_1"})
	if err == nil || errors.Is(err, ErrNoCodesLeft) || !strings.Contains(err.Error(), "reading random bytes") {
		t.Fatalf("Publish with a failing random source: %v, want a read error (not ErrNoCodesLeft)", err)
	}
	if _, err := c.CreateCampaign(context.Background(), Campaign{Name: "p", Count: 1}); err == nil {
		t.Fatal("CreateCampaign with Count and a failing random source succeeded")
	}
	if _, err := c.Campaign(context.Background(), "p"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed campaign was stored: %v", err)
	}
}

func TestSmallSpaceUsedToTheLastCode(t *testing.T) {
	t.Parallel()
	// The random source always draws the same code, so every code after the
	// first comes from the exhaustive scan of the 10-code space.
	c := NewMemory(Config{Rand: zeroRand{}})
	camp, err := c.CreateCampaign(context.Background(), Campaign{Name: "tiny", Code: CodeConfig{Pattern: "#", Charset: CharsetNumbers}})
	if err != nil {
		t.Fatal(err)
	}
	got := publishCodes(t, c, camp.ID, 10)
	seen := map[string]bool{}
	for _, code := range got {
		if seen[code] {
			t.Fatalf("code %q published twice: %q", code, got)
		}
		seen[code] = true
	}
	_, err = c.Publish(context.Background(), PublishRequest{Key: "11", CampaignID: camp.ID, CustomerID: "c"})
	if !errors.Is(err, ErrNoCodesLeft) || !strings.Contains(err.Error(), "all 10 codes of the space are taken") {
		t.Fatalf("11th code of a 10-code space: %v, want ErrNoCodesLeft", err)
	}
}

func TestLargeSpaceBoundedAttempts(t *testing.T) {
	t.Parallel()
	// A space too large to scan: when random draws keep colliding, Publish
	// gives up after a bounded number of attempts instead of looping.
	c := NewMemory(Config{Rand: zeroRand{}})
	camp, err := c.CreateCampaign(context.Background(), Campaign{Name: "big", Code: CodeConfig{Length: 8}})
	if err != nil {
		t.Fatal(err)
	}
	publishCodes(t, c, camp.ID, 1)
	_, err = c.Publish(context.Background(), PublishRequest{Key: "2", CampaignID: camp.ID, CustomerID: "c"})
	if !errors.Is(err, ErrNoCodesLeft) || !strings.Contains(err.Error(), "nearly exhausted") {
		t.Fatalf("Publish when every draw collides: %v, want ErrNoCodesLeft (nearly exhausted)", err)
	}
}

func TestCandidatesSmallSpace(t *testing.T) {
	t.Parallel()
	// Every random draw is "0"; the scan then yields each of the 10 codes
	// once, from the random start 0.
	g, err := NewGenerator(CodeConfig{Pattern: "#", Charset: CharsetNumbers})
	if err != nil {
		t.Fatal(err)
	}
	c := g.Candidates(zeroRand{})
	var got []string
	for {
		batch, err := c.Next(7)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
		if len(batch) > 7 {
			t.Fatalf("Next(7) returned %d candidates", len(batch))
		}
		got = append(got, batch...)
	}
	want := append(slices.Repeat([]string{"0"}, randomDraws), "0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("candidates (-want +got):\n%s", diff)
	}
	if err := c.Exhausted(); !errors.Is(err, ErrNoCodesLeft) || err.Error() != "all 10 codes of the space are taken: codes: no codes left" {
		t.Errorf("Exhausted() = %v", err)
	}
}

func TestCandidatesLargeSpace(t *testing.T) {
	t.Parallel()
	g, err := NewGenerator(CodeConfig{Length: 4, Charset: CharsetUppercase}) // 456,976 codes: too many to scan
	if err != nil {
		t.Fatal(err)
	}
	c := g.Candidates(seededRand(3))
	got, err := c.Next(1000)
	if err != nil || len(got) != randomDraws {
		t.Fatalf("Next(1000) = %d candidates, %v; want the %d random draws only", len(got), err, randomDraws)
	}
	if more, _ := c.Next(1); len(more) != 0 {
		t.Errorf("Next after the end = %q", more)
	}
	if err := c.Exhausted(); !errors.Is(err, ErrNoCodesLeft) || !strings.Contains(err.Error(), "48 random codes in a row already exist: the space of 456976 codes is nearly exhausted") {
		t.Errorf("Exhausted() = %v", err)
	}
	// The sequence does not depend on the batch sizes.
	one := g.Candidates(seededRand(3))
	for i, want := range got {
		c, err := one.Next(1)
		if err != nil || len(c) != 1 || c[0] != want {
			t.Fatalf("candidate %d one at a time = %q, %v; want %q", i, c, err, want)
		}
	}
}

func TestFindN(t *testing.T) {
	t.Parallel()
	g, err := NewGenerator(CodeConfig{Pattern: "#", Charset: CharsetNumbers})
	if err != nil {
		t.Fatal(err)
	}
	taken := func(code string) bool { return code == "3" || code == "7" }
	got, err := g.FindN(seededRand(4), 9, taken)
	if !errors.Is(err, ErrNoCodesLeft) || len(got) != 8 {
		t.Fatalf("FindN(9) of 8 free codes = %q, %v; want 8 codes and ErrNoCodesLeft", got, err)
	}
	slices.Sort(got)
	if diff := cmp.Diff([]string{"0", "1", "2", "4", "5", "6", "8", "9"}, got); diff != "" {
		t.Errorf("FindN codes (-want +got):\n%s", diff)
	}
	// nil reads crypto/rand.
	code, err := g.Find(nil, taken)
	if err != nil || code == "3" || code == "7" || len(code) != 1 {
		t.Errorf("Find(nil) = %q, %v", code, err)
	}
}

func TestValidateCampaign(t *testing.T) {
	t.Parallel()
	got, gen, err := ValidateCampaign(Campaign{Name: "c", Codes: []string{"X"}, Code: CodeConfig{Pattern: "A-#", Length: 4, Charset: "xyz"}})
	if err != nil {
		t.Fatal(err)
	}
	want := Campaign{Name: "c", Type: Pool, Codes: []string{"X"}, Code: CodeConfig{Pattern: "A-#", Charset: "xyz"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ValidateCampaign (-want +got):\n%s", diff)
	}
	if gen.Config() != want.Code || gen.Capacity() != 3 || gen.String() != `pattern "A-#" (1 random characters from a charset of 3)` {
		t.Errorf("generator: %+v, %d, %s", gen.Config(), gen.Capacity(), gen)
	}
}

func TestPublishRequestValidate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		req  PublishRequest
		want string
	}{
		{PublishRequest{CampaignID: "c", CustomerID: "u"}, "key: required: codedrop: invalid input"},
		{PublishRequest{Key: "k", CustomerID: "u"}, "campaign_id: required: codedrop: invalid input"},
		{PublishRequest{Key: "k", CampaignID: "c"}, "customer_id: required: codedrop: invalid input"},
	} {
		if err := tt.req.Validate(); !errors.Is(err, ErrInvalid) || err.Error() != tt.want {
			t.Errorf("Validate(%+v) = %v, want %q", tt.req, err, tt.want)
		}
	}
	if err := (PublishRequest{Key: "k", CampaignID: "c", CustomerID: "u"}).Validate(); err != nil {
		t.Errorf("Validate(complete) = %v", err)
	}
}
