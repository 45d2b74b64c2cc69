#!/usr/bin/env bash
# End-to-end test of the challenge image, run the way the organisers run it.
#
#   bash tests/docker/run_image_test.sh
#
# 1. Finds a Docker engine: uses a running one, or installs docker.io (apt) and starts its own
#    dockerd, which it stops again on exit.
# 2. Builds a stand-in for the CUDA PyTorch base image without pulling from any registry: a
#    Debian root made with debootstrap, its python3 plus the CPU build of the pinned torch,
#    imported with `docker import`. It is cached under its tag, so later runs skip this.
# 3. Builds the kit's image on it (`--build-arg BASE_IMAGE=...`, `--network host`) and checks
#    that the image runs the base image's python and its one torch, at the version pinned in
#    requirements.txt, with no CUDA packages added by pip.
# 4. For the murmur, the ECG and the 2016 task: generates small training and test folders, then runs
#    train_model.py, run_model.py and evaluate_model.py in containers with `--network none`
#    and the folders mounted under /physionet, and checks the model, outputs and score tables.
#
# Exit status 0 when everything passed, or when no Docker engine can be had here (the reason
# is printed; set CARDIOKIT_REQUIRE_DOCKER=1 to make that a failure), 1 on any failure.
# Other settings: CARDIOKIT_DEBIAN_MIRROR (default: the bookworm mirror in the apt sources),
# CARDIOKIT_TEST_EPOCHS (default 2), CARDIOKIT_KEEP_WORK=1 (keep the work folder).

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly REPO
# The stand-in image's Debian release; its python3 (3.11) and glibc (2.36) decide which wheels
# it can use.
readonly SUITE=bookworm PYTHON_VERSION=3.11 GLIBC_MINOR=36
readonly EPOCHS="${CARDIOKIT_TEST_EPOCHS:-2}"
readonly LABEL="cardiokit-image-test=$$"
readonly KIT_IMAGE="cardiokit-image-test:$$"
BASE_IMAGE=""  # the stand-in's tag, named after the torch pin in main

WORK=""
DOCKERD_PID=""
APT_UPDATED=0

log() { printf '[image-test %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf 'image-test: FAILED: %s\n' "$*" >&2; exit 1; }

# No engine can run here: say why, and pass unless the caller insists on Docker.
skip() {
    printf 'image-test: SKIPPED: %s\n' "$*"
    if [[ "${CARDIOKIT_REQUIRE_DOCKER:-0}" == 1 ]]; then
        printf 'image-test: CARDIOKIT_REQUIRE_DOCKER=1, so this counts as a failure\n' >&2
        exit 1
    fi
    exit 0
}

torch_pin() {
    sed -n 's/^torch==\([^ ;#]*\).*/\1/p' "$REPO/requirements.txt"
}

# ---------------------------------------------------------------- engine

apt_install() {
    if [[ "$APT_UPDATED" == 0 ]]; then
        apt-get update -q || return 1
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

ensure_engine_installed() {
    if command -v docker >/dev/null && { command -v dockerd >/dev/null || engine_answers; }; then
        return 0
    fi
    [[ "$(id -u)" == 0 ]] || skip "no Docker engine is installed, and installing one needs root"
    command -v apt-get >/dev/null || skip "no Docker engine is installed, and there is no apt-get to install one"
    log "installing docker.io and debootstrap with apt-get"
    apt_install docker.io debootstrap || skip "could not install docker.io with apt-get (see above)"
}

engine_answers() { docker info >/dev/null 2>&1; }

# Our dockerd touches no firewall rules and makes no bridge: builds use the host network and
# test containers have none. A daemon.json may already settle those options, and dockerd
# refuses to start when a flag repeats one of its settings.
dockerd_flags() {
    if [[ ! -e /etc/docker/daemon.json ]]; then
        printf '%s\n' --iptables=false --ip6tables=false --bridge=none
    fi
}

start_engine() {
    if engine_answers; then
        log "using the Docker engine that is already running"
        return 0
    fi
    [[ "$(id -u)" == 0 ]] || skip "no Docker engine answers, and starting dockerd needs root"
    local flags
    mapfile -t flags < <(dockerd_flags)
    log "starting dockerd (log: $WORK/dockerd.log)"
    # In a session of its own, so that Ctrl-C reaches this script and the docker clients but
    # not the engine, which the clean-up still needs.
    setsid dockerd "${flags[@]}" >"$WORK/dockerd.log" 2>&1 </dev/null &
    DOCKERD_PID=$!
    wait_for_engine
}

wait_for_engine() {
    local waited=0
    until engine_answers; do
        if ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
            DOCKERD_PID=""
            skip "dockerd exited at start-up; its last lines: $(tail -n 5 "$WORK/dockerd.log")"
        fi
        if ((waited >= 60)); then
            skip "dockerd did not answer within 60 s; its last lines: $(tail -n 5 "$WORK/dockerd.log")"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    log "dockerd is up (pid $DOCKERD_PID)"
}

# Stops exactly the dockerd this script started (dockerd then stops the containerd it ran).
stop_engine() {
    [[ -n "$DOCKERD_PID" ]] || return 0
    log "stopping dockerd (pid $DOCKERD_PID)"
    kill -TERM "$DOCKERD_PID" 2>/dev/null || true
    local waited=0
    while kill -0 "$DOCKERD_PID" 2>/dev/null && ((waited < 30)); do
        sleep 1
        waited=$((waited + 1))
    done
    if kill -0 "$DOCKERD_PID" 2>/dev/null; then
        log "dockerd ignored SIGTERM for 30 s; killing it"
        kill -KILL "$DOCKERD_PID" 2>/dev/null || true
    fi
    wait "$DOCKERD_PID" 2>/dev/null || true
    DOCKERD_PID=""
}

# ---------------------------------------------------------------- clean-up

remove_test_containers() {
    local ids
    ids="$(docker ps -aq --filter "label=$LABEL" 2>/dev/null)" || return 0
    if [[ -n "$ids" ]]; then
        # shellcheck disable=SC2086 # one id per word
        docker rm -f $ids >/dev/null 2>&1 || true
    fi
}

# Unmounts whatever an interrupted debootstrap left mounted inside the work folder, deepest
# first, so that removing the folder never reaches into the host's /proc or /sys.
unmount_under_work() {
    local target
    findmnt -rn -o TARGET 2>/dev/null | grep -F "$WORK/" | sort -r | while read -r target; do
        umount -l "$target" 2>/dev/null || true
    done
}

# Walks the legacy builder's parent links from image $1 looking for image $2.
descends_from() {
    local id=$1 ancestor=$2
    while [[ -n "$id" ]]; do
        [[ "$id" == "$ancestor" ]] && return 0
        id="$(docker image inspect -f '{{.Parent}}' "$id" 2>/dev/null)" || return 1
    done
    return 1
}

# An interrupted or failed build leaves build containers (still running, right after Ctrl-C)
# and untagged layers on top of the stand-in base image. Its tag is this test's own, so
# whatever descends from it is ours (one test run per engine at a time).
remove_build_leftovers() {
    local base_id id
    base_id="$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE" 2>/dev/null)" || return 0
    for id in $(docker ps -aq --filter "ancestor=$base_id"); do
        docker rm -f "$id" >/dev/null 2>&1
    done
    # The builder removes a cancelled step's container itself, which takes a few seconds;
    # stopping the engine before then would leave it behind as a dead container.
    local waited=0
    while [[ -n "$(docker ps -aq --filter "ancestor=$base_id")" ]] && ((waited < 30)); do
        sleep 1
        waited=$((waited + 1))
    done
    for id in $(docker images -aq --no-trunc --filter dangling=true --filter "since=$base_id"); do
        if descends_from "$id" "$base_id"; then
            docker image rm "$id" >/dev/null 2>&1
        fi
    done
}

cleanup() {
    local status=$?
    set +e
    if [[ -n "$WORK" ]] && engine_answers; then
        remove_test_containers
        docker image rm -f "$KIT_IMAGE" >/dev/null 2>&1
        remove_build_leftovers
    fi
    stop_engine
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        unmount_under_work
        if [[ "${CARDIOKIT_KEEP_WORK:-0}" == 1 ]]; then
            log "work folder kept: $WORK"
        else
            rm -rf --one-file-system "$WORK"
        fi
    fi
    exit "$status"
}

# ---------------------------------------------------------------- stand-in base image

# The bookworm mirror apt already uses, so debootstrap fetches from the same place.
apt_mirror() {
    if [[ -n "${CARDIOKIT_DEBIAN_MIRROR:-}" ]]; then
        printf '%s\n' "$CARDIOKIT_DEBIAN_MIRROR"
        return 0
    fi
    local sources=() file
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -r "$file" ]] && sources+=("$file")
    done
    ((${#sources[@]})) || return 0
    awk -v suite="$SUITE" '
        function has(list, word) { return (" " list " ") ~ (" " word " ") }
        function flush() {
            if (!found && has(types, "deb") && has(suites, suite) && uris != "") {
                split(uris, first, " "); print first[1]; found = 1
            }
            types = uris = suites = ""
        }
        FNR == 1 { flush() }
        /^[ \t]*$/ { flush(); next }
        /^Types:/ { types = substr($0, 7) }
        /^URIs:/ { uris = substr($0, 6) }
        /^Suites:/ { suites = substr($0, 8) }
        /^deb[ \t]/ && !found {
            line = $0; gsub(/\[[^]]*\]/, "", line); split(line, field, /[ \t]+/)
            if (field[3] == suite) { print field[2]; found = 1 }
        }
        END { flush() }
    ' "${sources[@]}" | head -n 1
}

# debootstrap reaches the mirror through apt's proxy, if apt has one.
apt_proxy_env() {
    local http_proxy=""
    eval "$(apt-config shell http_proxy Acquire::http::Proxy)"
    if [[ -n "$http_proxy" ]]; then
        printf 'http_proxy=%s\n' "$http_proxy"
    fi
}

make_root() {
    local root=$1 mirror
    mirror="$(apt_mirror)"
    [[ -n "$mirror" ]] || die "no $SUITE mirror in the apt sources; set CARDIOKIT_DEBIAN_MIRROR"
    command -v debootstrap >/dev/null || apt_install debootstrap || die "could not install debootstrap"
    log "debootstrap $SUITE from the apt mirror (a minute or more)"
    local proxy
    mapfile -t proxy < <(apt_proxy_env)
    # Its hundreds of progress lines go to a log; only a failure shows them.
    env "${proxy[@]}" debootstrap --variant=minbase --include=python3,python3-pip,ca-certificates \
        "$SUITE" "$root" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
        die "debootstrap failed; its last lines:"$'\n'"$(tail -n 20 "$WORK/debootstrap.log")"
}

# pip matches --platform tags literally, so name every manylinux tag the stand-in's glibc accepts.
wheel_platforms() {
    local arch minor
    arch="$(uname -m)"
    for ((minor = GLIBC_MINOR; minor >= 17; minor--)); do
        printf -- '--platform\nmanylinux_2_%s_%s\n' "$minor" "$arch"
    done
    printf -- '--platform\nmanylinux2014_%s\n' "$arch"
}

# Fetches torch and its dependencies on the host, with the host's pip settings (index, CA
# bundle, local wheel folders), as wheels for the stand-in's python and glibc.
download_torch() {
    local wheels=$1 spec=$2 platforms
    mapfile -t platforms < <(wheel_platforms)
    log "downloading $spec and its dependencies for python $PYTHON_VERSION"
    python3 -m pip download --quiet --dest "$wheels" --only-binary=:all: \
        --implementation cp --python-version "$PYTHON_VERSION" "${platforms[@]}" "$spec" ||
        die "could not download $spec with the host's pip settings"
}

# The kit's image build installs its requirements from the package index, so the stand-in
# carries the host's CA bundle and the host's pip index settings (local folders left out).
host_ca_bundle() {
    local cert
    cert="$(python3 -m pip config get global.cert 2>/dev/null || true)"
    cert="${PIP_CERT:-$cert}"
    printf '%s\n' "${cert:-/etc/ssl/certs/ca-certificates.crt}"
}

host_pip_network_settings() {
    python3 -m pip config list 2>/dev/null | awk -F= '
        {
            key = $1; sub(/^[^.]*\./, "", key)
            value = substr($0, length($1) + 2); gsub(/^'\''|'\''$/, "", value)
        }
        key !~ /^(index-url|extra-index-url|trusted-host|proxy)$/ || seen[key]++ { next }
        {
            kept = ""
            n = split(value, words, /[ \t]+/)
            for (i = 1; i <= n; i++)
                if (words[i] != "" && words[i] !~ /^(file:|\/)/) kept = kept " " words[i]
            if (kept != "") print key " =" kept
        }
    '
}

configure_root_network() {
    local root=$1 ca
    ca="$(host_ca_bundle)"
    [[ -r "$ca" ]] || die "CA bundle $ca is not readable"
    install -m 0644 "$ca" "$root/etc/ssl/certs/ca-certificates.crt"
    {
        printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n'
        host_pip_network_settings
    } >"$root/etc/pip.conf"
}

in_root() {
    local root=$1
    shift
    chroot "$root" /usr/bin/env -i HOME=/root LC_ALL=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

install_torch_in_root() {
    local root=$1 spec=$2
    mkdir -p "$root/tmp/wheels"
    download_torch "$root/tmp/wheels" "$spec"
    log "installing $spec into the root's python3"
    # Installed beside Debian's own packages, as in base images whose python3 is the system's.
    in_root "$root" python3 -m pip install --quiet --no-cache-dir --break-system-packages \
        --no-index --find-links /tmp/wheels "$spec" || die "installing torch in the root failed"
    rm -rf "$root/tmp/wheels" "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
}

build_base_image() {
    local tag=$1 spec=$2
    if docker image inspect "$tag" >/dev/null 2>&1; then
        log "stand-in base image $tag is cached"
        return 0
    fi
    local root="$WORK/rootfs"
    make_root "$root"
    install_torch_in_root "$root" "$spec"
    configure_root_network "$root"
    log "importing the root as $tag"
    tar --numeric-owner -C "$root" -cf - . |
        docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
            --message "stand-in CUDA PyTorch base image ($spec)" - "$tag" >/dev/null ||
        die "docker import failed"
    rm -rf --one-file-system "$root"
}

# ---------------------------------------------------------------- the kit's image

# One line about an image's python and torch: the python version, how many torch
# distributions are installed (pip list names each only once, even when two sit in different
# folders), the torch version and where the imported torch lives.
python_and_torch() {
    docker run --rm --network none --label "$LABEL" "$1" python3 -W ignore -c '
import importlib.metadata as m, sys, torch
found = [d for d in m.distributions() if (d.metadata["Name"] or "").lower() == "torch"]
print("%d.%d" % sys.version_info[:2], len(found), m.version("torch"), torch.__file__)'
}

# The kit's image must run the base image's python and its one torch, at the pinned version,
# and pip must not have added CUDA libraries of its own.
check_kit_image() {
    local base=$1 pin=$2 before after version count torch_version
    before="$(python_and_torch "$base")" || die "python3 or torch does not start in $base"
    after="$(python_and_torch "$KIT_IMAGE")" || die "python3 or torch does not start in the kit's image"
    read -r version count torch_version _ <<<"$after"
    [[ "$version" == "$PYTHON_VERSION" ]] ||
        die "the image runs python $version; the stand-in's torch wheels are for $PYTHON_VERSION"
    [[ "$count" == 1 ]] || die "the image holds $count torch distributions: $after"
    [[ "${torch_version%%+*}" == "$pin" ]] || die "the image's torch is $torch_version, requirements.txt pins $pin"
    [[ "$before" == "$after" ]] || die "the image's torch ($after) is not the base image's ($before)"
    local packages
    packages="$(docker run --rm --network none --label "$LABEL" "$KIT_IMAGE" python3 -m pip list 2>/dev/null)"
    if grep -qi '^nvidia-' <<<"$packages"; then
        die "the image gained CUDA packages from pip: $(grep -i '^nvidia-' <<<"$packages" | head -n 3)"
    fi
    log "the kit's image keeps the base image's python and torch: $after"
}

build_kit_image() {
    local base=$1
    log "building the kit's image on $base"
    docker build --network host --force-rm --build-arg "BASE_IMAGE=$base" \
        --label "$LABEL" -t "$KIT_IMAGE" "$REPO" || die "docker build failed"
}

# ---------------------------------------------------------------- one task, as the organisers run it

# Containers run as root, as the organisers run them; as another user when the caller is not
# root, so that the files they write can be removed afterwards.
in_container() {
    local user=()
    if [[ "$(id -u)" != 0 ]]; then
        user=(--user "$(id -u):$(id -g)" --env HOME=/tmp)
    fi
    docker run --rm --network none --label "$LABEL" "${user[@]}" "$@"
}

generate() {
    local task=$1 folder=$2
    local count=(--patients 24) test_count=(--patients 10)
    if [[ "$task" == ecg ]]; then
        count=(--records 60) test_count=(--records 20)
    elif [[ "$task" == pcg2016 ]]; then
        count=(--recordings 30) test_count=(--recordings 12)
    fi
    (cd "$REPO" && python3 -m models.synthetic "$task" "$folder/training_data" "${count[@]}" --seed 1 &&
        python3 -m models.synthetic "$task" "$folder/test_data" "${test_count[@]}" --seed 2) ||
        die "$task: generating data failed"
}

run_task() {
    local task=$1 folder="$WORK/$1" started=$SECONDS
    mkdir -p "$folder"/{model,test_outputs,scores}
    generate "$task" "$folder"
    # The 2016 teacher's contrastive phase has its own epochs (30): cut them to the same few.
    local short=()
    [[ "$task" == pcg2016 ]] && short=(--set "contrastive.train.epochs=$EPOCHS")
    log "$task: training in the image ($EPOCHS epochs)"
    in_container -v "$folder/training_data:/physionet/training_data" -v "$folder/model:/physionet/model" \
        "$KIT_IMAGE" python train_model.py training_data model --epochs "$EPOCHS" "${short[@]}" -q ||
        die "$task: train_model.py failed"
    log "$task: running the model in the image"
    in_container -v "$folder/model:/physionet/model" -v "$folder/test_data:/physionet/test_data" \
        -v "$folder/test_outputs:/physionet/test_outputs" \
        "$KIT_IMAGE" python run_model.py model test_data test_outputs -q ||
        die "$task: run_model.py failed"
    log "$task: scoring in the image"
    in_container -v "$folder/test_data:/physionet/test_data" \
        -v "$folder/test_outputs:/physionet/test_outputs" -v "$folder/scores:/physionet/scores" \
        "$KIT_IMAGE" python evaluate_model.py test_data test_outputs scores/scores.csv scores/class_scores.csv ||
        die "$task: evaluate_model.py failed"
    python3 "$REPO/tests/docker/check_scores.py" "$task" "$folder" || die "$task: wrong results"
    log "$task: passed in $((SECONDS - started)) s"
}

main() {
    local pin
    pin="$(torch_pin)"
    [[ -n "$pin" ]] || die "requirements.txt pins no torch version (torch==X.Y.Z)"
    BASE_IMAGE="cardiokit-base:torch$pin-cpu"
    WORK="$(mktemp -d "${TMPDIR:-/var/tmp}/cardiokit-image-test.XXXXXX")"
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    ensure_engine_installed
    start_engine
    build_base_image "$BASE_IMAGE" "torch==$pin+cpu"
    build_kit_image "$BASE_IMAGE"
    check_kit_image "$BASE_IMAGE" "$pin"
    run_task murmur
    run_task ecg
    run_task pcg2016
    log "image test passed in $SECONDS s"
}

main "$@"
