#!/bin/sh
# Parent-instance bridges (template): clients -> TCP 7443 -> enclave vsock 7443;
# enclave vsock 7444 -> the untrusted-partition service at $UNTRUSTED (host:port).
set -eu
ENCLAVE_CID=${ENCLAVE_CID:?set to the enclave CID from nitro-cli describe-enclaves}
UNTRUSTED=${UNTRUSTED:-127.0.0.1:7444}
socat TCP-LISTEN:7443,fork,reuseaddr VSOCK-CONNECT:"$ENCLAVE_CID":7443 &
socat VSOCK-LISTEN:7444,fork,reuseaddr TCP:"$UNTRUSTED" &
wait
