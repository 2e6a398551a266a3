#!/usr/bin/env python3
"""Generates the two unrolled Keccak-f[1600] round functions used by MLDSA87Verifier.sol.

Usage: python3 contracts/tools/gen_keccak_rounds.py [--rc] > /tmp/rounds.yul
and paste the output between the "BEGIN GENERATED" / "END GENERATED" markers of
contracts/src/verifiers/MLDSA87Core.sol (--rc prints the round-constant table to stderr).
With --relative it prints one round function with its buffers as arguments, used by
contracts/src/libraries/SHA3.sol (whose memory is not at fixed addresses).

Layout (see the memory map in MLDSA87Core.sol): lane A[x,y] of a state lives in the 32-byte
word at base + 32*(x + 5*y). A round reads the state at SRC and writes the next state at DST; the
two functions swap the roles of the two buffers so that 24 rounds leave the result where it
started. D[x] (theta) is kept in the scratch words DD.

Absolute mode (the verifier) keeps every lane REPLICATED: the word holds the 64-bit lane four
times (x||x||x||x). XOR, AND and NOT act on all copies alike, and a 64-bit rotation left by n is
the 256-bit rotation right by 64-n: or(shr(64-n, w), shl(192+n, w)), with no mask. Relative mode
(SHA3.sol) keeps clean 64-bit lanes: or(and(shl(n, w), MASK64), shr(64-n, w)).
"""
import sys

S, T, DD = 0x80, 0x3A0, 0x6C0
M = "0xffffffffffffffff"

# rho offsets r[x][y] (FIPS 202, Table 2)
R = [[0, 36, 3, 41, 18], [1, 44, 10, 45, 2], [62, 6, 43, 15, 61], [28, 55, 25, 21, 56], [27, 20, 39, 8, 14]]


REPLICATED = True  # absolute mode; relative mode switches it off
REP = 0x0000000000000001000000000000000100000000000000010000000000000001


def rol(v, n):
    if n == 0:
        return v
    if REPLICATED:
        return f"or(shr({64 - n}, {v}), shl({192 + n}, {v}))"
    return f"or(and(shl({n}, {v}), {M}), shr({64 - n}, {v}))"


def lane(base, x, y):
    return hex(base + 32 * (x + 5 * y))


def round_fn(name, src, dst, relative=False):
    """Absolute mode: src/dst are fixed addresses. Relative mode: one function
    round(src, dst, dd, rc) whose buffers are given as arguments."""
    global REPLICATED
    if relative:
        global lane
        absolute_lane = lane
        lane = lambda base, x, y: f"add({base}, {hex(32 * (x + 5 * y))})"
        REPLICATED = False
        try:
            return _round_fn(name, "src", "dst", "dd", "(src, dst, dd, rc)")
        finally:
            lane = absolute_lane
            REPLICATED = True
    return _round_fn(name, src, dst, DD, "(rc)")


def _dd(dd, x):
    return hex(dd + 32 * x) if isinstance(dd, int) else f"add({dd}, {hex(32 * x)})"


def _round_fn(name, src, dst, dd, params):
    o = []
    where = f"{hex(src)} -> state at {hex(dst)}" if isinstance(src, int) else "src -> state at dst (D scratch at dd)"
    o.append(f"            // One Keccak-f[1600] round: state at {where}, rc = round constant.")
    o.append(f"            function {name}{params} {{")
    stack_d = REPLICATED  # the verifier's rounds keep D[0..4] on the stack
    if stack_d:
        o.append("                // theta: C[x] = xor of column x; D[x] = C[x-1] ^ rol(C[x+1], 1), kept on the stack")
        o.append("                let d0, d1, d2, d3, d4")
    else:
        o.append("                // theta: C[x] = xor of column x; D[x] = C[x-1] ^ rol(C[x+1], 1), kept in DD")
    o.append("                {")
    for x in range(5):
        e = f"mload({lane(src, x, 0)})"
        for y in range(1, 5):
            e = f"xor({e}, mload({lane(src, x, y)}))"
        o.append(f"                    let c{x} := {e}")
    for x in range(5):
        dval = f"xor(c{(x - 1) % 5}, {rol(f'c{(x + 1) % 5}', 1)})"
        if stack_d:
            o.append(f"                    d{x} := {dval}")
        else:
            o.append(f"                    mstore({_dd(dd, x)}, {dval})")
    o.append("                }")
    for Y in range(5):
        o.append(f"                // row y={Y}: B[X,{Y}] = rol(A[x,y] ^ D[x], r[x][y]) with X = y, {Y} = 2x + 3y (rho, pi); then chi (and iota on lane 0)")
        o.append("                {")
        for X in range(5):
            y = X
            x = (3 * (Y - 3 * X)) % 5
            assert (2 * x + 3 * y) % 5 == Y
            if R[x][y] == 0:
                dx = f"d{x}" if stack_d else f"mload({_dd(dd, x)})"
                o.append(f"                    let b{X} := xor(mload({lane(src, x, y)}), {dx}) // A[{x},{y}] ^ D[{x}]")
            else:
                o.append(f"                    let b{X}")
                o.append(f"                    {{")
                dx = f"d{x}" if stack_d else f"mload({_dd(dd, x)})"
                o.append(f"                        let t := xor(mload({lane(src, x, y)}), {dx}) // A[{x},{y}] ^ D[{x}]")
                o.append(f"                        b{X} := {rol('t', R[x][y])}")
                o.append(f"                    }}")
        for X in range(5):
            e = f"xor(b{X}, and(not(b{(X + 1) % 5}), b{(X + 2) % 5}))"
            if X == 0 and Y == 0:
                e = f"xor({e}, rc)"
            o.append(f"                    mstore({lane(dst, X, Y)}, {e})")
        o.append("                }")
    o.append("            }")
    return "\n".join(o)


def round_constants():
    # FIPS 202 Algorithm 5 (rc) and 6 (iota)
    def rc_bit(t):
        if t % 255 == 0:
            return 1
        r = [1, 0, 0, 0, 0, 0, 0, 0]
        for _ in range(1, t % 255 + 1):
            r = [0] + r
            r[0] ^= r[8]; r[4] ^= r[8]; r[5] ^= r[8]; r[6] ^= r[8]
            r = r[:8]
        return r[0]
    out = []
    for ir in range(24):
        v = 0
        for j in range(7):
            v |= rc_bit(j + 7 * ir) << ((1 << j) - 1)
        out.append(v)
    return out


if __name__ == "__main__":
    if "--relative" in sys.argv:
        print("            // BEGIN GENERATED by contracts/tools/gen_keccak_rounds.py --relative")
        print(round_fn("keccakRound", None, None, relative=True))
        print("            // END GENERATED")
        sys.exit(0)
    print("            // BEGIN GENERATED by contracts/tools/gen_keccak_rounds.py")
    print(round_fn("roundST", S, T))
    print(round_fn("roundTS", T, S))
    print("            // END GENERATED")
    if "--rc" in sys.argv:
        for i, v in enumerate(round_constants()):
            print(f"                mstore({hex(0x760 + 32 * i)}, 0x{v * REP:064x})", file=sys.stderr)
