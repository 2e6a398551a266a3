#!/usr/bin/env bash
# End-to-end check of the contracts on a real local chain:
#   starts anvil (prague, no block gas limit) on a free loopback port, deploys with
#   contracts/script/Deploy.s.sol (MLDSA87Verifier's code placed at the Lux precompile address),
#   then with cast: checks the code at the precompile address, verifies a pars-crypto Lux-context
#   signature through the adapter, executes a signed guestbook action both ways (key in calldata,
#   registered key), checks the note under the session ID digest, and registers a service node.
# Stops its anvil on exit. Writes the addresses to $ADDRESSES_FILE (default .devnet/smoke-addresses.json).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
scripts/install-tools >/dev/null 2>&1 || scripts/install-tools
bin="$root/.tools/bin"
export ADDRESSES_FILE="${ADDRESSES_FILE:-.devnet/smoke-addresses.json}"
mkdir -p .devnet

port="${SMOKE_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 18545)}"
rpc="http://127.0.0.1:$port"
export RPC_URL="$rpc"
key=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80 # anvil account 0
passed=0
failed=0

"$bin/anvil" --hardfork prague --disable-block-gas-limit --host 127.0.0.1 --port "$port" >.devnet/smoke-anvil.log 2>&1 &
anvil_pid=$!
trap 'kill "$anvil_pid" 2>/dev/null || true; wait "$anvil_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  "$bin/cast" chain-id --rpc-url "$rpc" >/dev/null 2>&1 && break
  sleep 0.1
done

check() { # name, then a command whose success is the check
  local name="$1"
  shift
  if "$@"; then
    echo "ok   $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    failed=$((failed + 1))
  fi
}
json() { # file, then keys (numbers index arrays)
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); [d:=d[int(k) if k.isdigit() else k] for k in sys.argv[2:]]; print(d)' "$@"
}

"$bin/forge" script contracts/script/Deploy.s.sol --rpc-url "$rpc" --broadcast --private-key "$key" >.devnet/smoke-deploy.log 2>&1 ||
  { cat .devnet/smoke-deploy.log; exit 1; }

fixtures=contracts/test/data/session-actions.json
lux=contracts/test/data/mldsa87-lux-signatures.json
trigger=$(json "$ADDRESSES_FILE" sessionTrigger)
guestbook=$(json "$ADDRESSES_FILE" sessionGuestbook)
adapter=$(json "$ADDRESSES_FILE" verifierAdapter)
registry=$(json "$ADDRESSES_FILE" serviceNodeRegistry)
precompile=0x0000000000000000000000000000000000012202
lc() { tr '[:upper:]' '[:lower:]'; }

check "deployed at the addresses the signed fixtures name" \
  test "$(echo "$trigger $guestbook" | lc)" = "$(echo "$(json $fixtures trigger) $(json $fixtures guestbook)" | lc)"
check "MLDSA87Verifier runtime code at the precompile address" \
  test "$("$bin/cast" code "$precompile" --rpc-url "$rpc")" = "$("$bin/forge" inspect MLDSA87Verifier deployedBytecode)"

pk=$(json $lux cases 0 publicKey)
msg=$(json $lux cases 0 message)
sig=$(json $lux cases 0 signature)
check "adapter accepts a Lux-context signature" \
  test "$("$bin/cast" call "$adapter" 'verify(bytes,bytes,bytes)(bool)' "$pk" "$msg" "$sig" --rpc-url "$rpc")" = true
badsig="${sig:0:100}$(printf '%x' $(( (0x${sig:100:1} + 1) % 16 )))${sig:101}"
check "adapter rejects a modified signature" \
  test "$("$bin/cast" call "$adapter" 'verify(bytes,bytes,bytes)(bool)' "$pk" "$msg" "$badsig" --rpc-url "$rpc")" = false

spk=$(json $fixtures publicKey)
sid=$(json $fixtures sessionId)
note="$(json $fixtures note)"
m=$(json $fixtures actions smoke message)
s=$(json $fixtures actions smoke signature)
n=$(json $fixtures actions smoke nonce)
"$bin/cast" send "$trigger" 'executeFromSession(bytes,bytes,bytes)' "$m" "$s" "$spk" \
  --private-key "$key" --rpc-url "$rpc" --gas-limit 80000000 >.devnet/smoke-exec.log 2>&1 || cat .devnet/smoke-exec.log
gas=$(grep -E '^gasUsed' .devnet/smoke-exec.log | awk '{print $2}')
check "executeFromSession wrote the note (gas used: ${gas:-?})" \
  test "$("$bin/cast" call "$guestbook" 'noteOf(bytes32)(string)' "$sid" --rpc-url "$rpc")" = "\"$note #$n\""
check "nonce consumed" \
  test "$("$bin/cast" call "$trigger" 'nonceUsed(bytes32,uint64)(bool)' "$sid" "$n" --rpc-url "$rpc")" = true

"$bin/cast" send "$trigger" 'registerKey(bytes)' "$spk" --private-key "$key" --rpc-url "$rpc" >/dev/null
m=$(json $fixtures actions guestbookRegistered message)
s=$(json $fixtures actions guestbookRegistered signature)
n=$(json $fixtures actions guestbookRegistered nonce)
"$bin/cast" send "$trigger" 'executeRegistered(bytes,bytes)' "$m" "$s" \
  --private-key "$key" --rpc-url "$rpc" --gas-limit 80000000 >.devnet/smoke-exec2.log 2>&1 || cat .devnet/smoke-exec2.log
gas=$(grep -E '^gasUsed' .devnet/smoke-exec2.log | awk '{print $2}')
check "executeRegistered wrote the note (gas used: ${gas:-?})" \
  test "$("$bin/cast" call "$guestbook" 'noteOf(bytes32)(string)' "$sid" --rpc-url "$rpc")" = "\"$note #$n\""

"$bin/cast" send "$registry" 'register((bytes,bytes32,bytes,string[],string))' \
  "(0x0024080112201111111111111111111111111111111111111111111111111111111111111111,$sid,0x$(printf '22%.0s' $(seq 1 32)),[/ip4/127.0.0.1/tcp/9000],smoke)" \
  --value 1ether --private-key "$key" --rpc-url "$rpc" >/dev/null
check "service node registered and active" \
  test "$("$bin/cast" call "$registry" 'activeCount()(uint256)' --rpc-url "$rpc")" = 1

echo "smoke: $passed passed, $failed failed"
test "$failed" -eq 0
