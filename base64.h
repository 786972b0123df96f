/*
 * Base64 and base64url (RFC 4648 sections 4 and 5), strict: the decoder
 * accepts exactly the canonical encodings and nothing else, so that two
 * different strings never decode to the same bytes.
 */
#ifndef PGWS_BASE64_H
#define PGWS_BASE64_H

#include <stddef.h>

/*
 * Alphabet and padding flags.  Decode takes one alphabet (B64_STD, B64_URL
 * or B64_ANY) or-ed with at most one padding flag.  Encode takes B64_STD
 * (padded by default) or B64_URL (unpadded by default, as JWT needs); a
 * padding flag overrides that default.
 */
#define B64_STD 0          /* RFC 4648 section 4 alphabet (+/) */
#define B64_URL 1          /* RFC 4648 section 5 alphabet (-_) */
#define B64_ANY 2          /* decode: either alphabet, but not both in one input */
#define B64_PAD_FORBID 4   /* decode: '=' is an error; encode: no padding */
#define B64_PAD_REQUIRE 8  /* decode: length a multiple of 4, correct padding; encode: pad */
                           /* neither: padding optional, but if present must be correct */

#define BASE64_ENC_LEN(n) ((((n) + 2) / 3) * 4)   /* upper bound of encoded length, without the NUL */
#define BASE64_DEC_MAX(n) (((n) + 3) / 4 * 3)     /* upper bound of decoded length */

/*
 * Encodes n bytes of caller-owned in into the caller's out, which must hold
 * BASE64_ENC_LEN(n) + 1 bytes, and NUL-terminates it; returns the text
 * length without the NUL.
 */
size_t base64_encode(const unsigned char *in, size_t n, char *out, int flags);

/*
 * Decodes n characters of caller-owned in (no NUL needed, none expected)
 * into the caller's out of cap bytes; returns the decoded length, or -1 for
 * an invalid character (whitespace included), a character of the other
 * alphabet (or, with B64_ANY, both alphabets mixed), a single leftover
 * character, bad or misplaced padding, non-zero trailing bits, output that
 * would exceed cap, or invalid flags.  It never reads past in[n-1] nor
 * writes past out[cap-1]; on -1 the contents of out are unspecified.
 */
long base64_decode(const char *in, size_t n, unsigned char *out, size_t cap,
    int flags);

#endif
