package codes_test

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/codedrop/codedrop/codes"
)

// NewGenerator checks a code config and describes its space; a bad config
// fails with ErrInvalid naming the field.
func ExampleNewGenerator() {
	gen, err := codes.NewGenerator(codes.CodeConfig{Prefix: "GIFT-", Length: 6, Charset: "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(gen)
	fmt.Println(gen.Capacity())

	_, err = codes.NewGenerator(codes.CodeConfig{Charset: "AAB"})
	fmt.Println(errors.Is(err, codes.ErrInvalid), err)
	// Output:
	// length 6 (charset of 32 characters)
	// 1073741824
	// true code.charset: character 2 ('A') repeats character 1: codedrop: invalid input
}

// FindN makes the codes of a pool generated at once, each new and unique;
// a seeded random source makes them repeatable in tests.
func ExampleGenerator_FindN() {
	gen, err := codes.NewGenerator(codes.CodeConfig{Pattern: "XMAS-###", Charset: codes.CharsetNumbers})
	if err != nil {
		fmt.Println(err)
		return
	}
	taken := map[string]bool{}
	list, err := gen.FindN(rand.NewChaCha8([32]byte{}), 3, func(code string) bool { return taken[code] })
	fmt.Println(list, err)
	// Output:
	// [XMAS-756 XMAS-694 XMAS-826] <nil>
}
