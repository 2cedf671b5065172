#!/usr/bin/env bash
# Security and robustness test of `cairn run`'s rootless sandbox, run as an unprivileged
# user, in each identity mode the user can have (--userns single always; --userns range
# when the user has a subordinate id range and newuidmap is installed):
#  - seccomp: a static probe (tests/sandbox/syscall_probe.c, bind-mounted read-only at
#    /probe) tries each denied call and gets the errno of the reviewed table
#    (src/sandbox/seccomp_table.cpp): EPERM for the denied ones and for unshare/clone with
#    CLONE_NEWUSER, ENOSYS for clone3, for calls the table does not list and for unknown
#    numbers; the x32 entry never gets through, nor the i386 one (int 0x80) where the kernel
#    has it. A control run of the probe outside the sandbox shows that these answers are the
#    filter's, not the kernel's.
#  - escapes: writes through /proc/1/root and /proc/self/root stay in the sandbox; no magic
#    link of any sandbox process (/proc/*/fd/*, cwd, root, map_files) climbs out to the
#    host with "..", the chroot breakout stays inside, mount over / and bind mounts fail,
#    the read-only bind of /probe stays read-only, host processes are invisible (/proc, kill
#    -0, ptrace, pidfd_open, process_vm_readv), keyctl and new user namespaces fail, the
#    caller's environment and open descriptors do not reach the sandbox.
#  - SIGKILL of cairn while `sleep` runs, CAIRN_SANDBOX_KILL_ROUNDS times per mode (default
#    20; every other run with --commit, whose scratch is in the store's tmp/): each run
#    starts its command within 5 s, and within 5 s of the kill no process of the run is
#    left, no mount of it is visible, no temporary directory of it is left in the store and
#    no image is committed. Then CAIRN_SANDBOX_EARLY_KILLS rounds per mode (default 10)
#    kill cairn at a random instant of its start-up, with the same checks. A process left
#    blocked on the dead overlay's FUSE connection cannot be killed: the test aborts the
#    connection where fusectl is mounted (the directory is the user's), else says how to.
# Needs unprivileged user namespaces and a usable /dev/fuse, the busybox rootfs tar in
# $CAIRN_BUSYBOX_TAR and the static probe in $CAIRN_SYSCALL_PROBE (exits 77 otherwise).
# Usage: CAIRN_BINARY=build/src/cairn CAIRN_BUSYBOX_TAR=/tmp/busybox.tar \
#        CAIRN_SYSCALL_PROBE=build/tests/syscall_probe tests/integration/sandbox_security_test.sh
set -uo pipefail
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"

require_cairn
[ "$(id -u)" -ne 0 ] || skip_all "run as root: the sandbox is tested as an unprivileged user"
require_overlay_basics
probe=${CAIRN_SYSCALL_PROBE:-}
{ [ -n "$probe" ] && [ -x "$probe" ]; } || skip_all "CAIRN_SYSCALL_PROBE does not name the static syscall probe"
case $probe in /*) ;; *) probe="$PWD/$probe" ;; esac
"$probe" list >/dev/null 2>&1 || skip_all "$probe does not run here"
kill_rounds=${CAIRN_SANDBOX_KILL_ROUNDS:-20}
early_kills=${CAIRN_SANDBOX_EARLY_KILLS:-10}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cairn-sandbox-security-test.XXXXXX")
host_pid=""
cleanup() {
  [ -n "$host_pid" ] && kill "$host_pid" 2>/dev/null
  chmod -R u+rwX "$tmp" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
isolate_home
store="$tmp/store"
cd "$tmp" || exit 1

out_has() { grep -qF -- "$1" "$tmp/out"; }
out_lacks() {
  grep -F -- "$1" "$tmp/out" >"$tmp/diff" || return 0
  return 1
}
# failed_step LABEL: the inside script printed "LABEL status N" with N other than 0.
failed_step() {
  local line
  line=$(grep -F -- "$1 status " "$tmp/out" | head -n1)
  [ -n "$line" ] && [ "${line##* }" != 0 ] && return 0
  echo "${line:-no line for $1}" >"$tmp/diff"
  return 1
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# sandbox MODE COMMAND...: cairn run of busybox with the probe at /probe (output in
# $tmp/out and $tmp/err, exit status in $status).
sandbox() {
  local mode=$1
  shift
  run run --userns "$mode" -v "$probe:/probe:ro" busybox "$@"
}
# probe_says SPEC: the probe's line for SPEC (NAME[:ARG]=WANT) in $tmp/out ends in "ok".
probe_says() {
  local name=${1%=*} want=${1##*=} line
  line=$(awk -v name="$name" '$1 == name && $2 == "got"' "$tmp/out" | head -n1)
  case $line in
    *" want $want ok") return 0 ;;
  esac
  echo "${line:-no line for $name (probe exit status $status)}" >"$tmp/diff"
  sed 's/^/stderr: /' "$tmp/err" >>"$tmp/diff"
  return 1
}

run import "$CAIRN_BUSYBOX_TAR" busybox
[ "$status" -eq 0 ] || { echo "Bail out! import of the busybox fixture failed: $(cat "$tmp/err")" >&2; exit 1; }

modes=(single)
if grep -q "^$(id -un):" /etc/subuid 2>/dev/null && grep -q "^$(id -un):" /etc/subgid 2>/dev/null &&
  command -v newuidmap >/dev/null && command -v newgidmap >/dev/null; then
  modes+=(range)
else
  skip "range mode (ids 0..65535 mapped)" "$(id -un) has no subordinate id range or newuidmap is missing"
fi

# A host process: no sandbox may see or touch it.
sleep 600 &
host_pid=$!

# --- control: outside the sandbox the kernel answers otherwise ---------------------------------
# What the probe gets here, unconfined, shows that the EPERM and ENOSYS inside come from the
# filter: unshare/clone with CLONE_NEWUSER and clone3 succeed, setns, umount2 and
# clock_settime fail for their arguments rather than for want of permission.
status=0
"$probe" expect unshare=OK clone=OK clone3=OK setns=EBADF umount2=EINVAL clock_settime=EFAULT \
  >"$tmp/out" 2>"$tmp/err" || status=$?
for spec in unshare=OK clone=OK clone3=OK setns=EBADF umount2=EINVAL clock_settime=EFAULT; do
  check "control, outside the sandbox: ${spec%=*} gets ${spec#*=}" probe_says "$spec"
done
i386=no
"$probe" expect i386_getpid=OK >/dev/null 2>&1 && i386=yes
"$probe" expect cachestat=any process_mrelease=any listmount=any statmount=any memfd_secret=any \
  2>/dev/null | sed 's/ want any ok$//; s/^/# outside the sandbox: /'

# --- seccomp: the table's verdicts --------------------------------------------------------------
denied=(kexec_load kexec_file_load init_module finit_module delete_module bpf perf_event_open
  keyctl add_key request_key userfaultfd io_uring_setup swapon swapoff reboot acct syslog
  settimeofday clock_settime adjtimex clock_adjtime mount mount_tmpfs_root umount2 umount2_root
  pivot_root open_tree move_mount fsopen setns open_by_handle_at fanotify_init
  unshare clone)
[ "$(uname -m)" = x86_64 ] && denied+=(iopl ioperm modify_ldt)
# clone3 (flags out of the filter's sight), calls the table does not list, unknown numbers.
enosys=(clone3 clone3_plain cachestat process_mrelease listmount statmount memfd_secret
  nr:1000 nr:4094)
# pid 1 (cairn's copy) is not dumpable: its namespaces cannot even be opened.
allowed=(setns_init=fail clone_plain=OK setuid:1234=OK setgid:1234=OK chown:/etc/passwd=OK
  mknod_dev:/tmp/probe-device=OK)
foreign=()
if [ "$(uname -m)" = x86_64 ]; then
  foreign+=(x32_unshare=fail x32_keyctl=fail)
  [ "$i386" = yes ] && foreign+=(i386_getpid=OK i386_unshare=EPERM i386_mount=EPERM
    i386_reboot=EPERM i386_keyctl=EPERM i386_setns=EPERM i386_clone3=ENOSYS i386_unknown=ENOSYS)
fi
specs=()
for name in "${denied[@]}"; do specs+=("$name=EPERM"); done
for name in "${enosys[@]}"; do specs+=("$name=ENOSYS"); done
specs+=("${allowed[@]}" "${foreign[@]}")

for mode in "${modes[@]}"; do
  sandbox "$mode" /probe expect "${specs[@]}"
  check "[$mode] the probe runs in the sandbox and every answer is the table's (status $status)" status_is 0
  for spec in "${specs[@]}"; do
    case $spec in
      *=EPERM) what="is denied (EPERM)" ;;
      *=ENOSYS) what="answers ENOSYS" ;;
      *=fail) what="never gets through" ;;
      *) what="succeeds (${spec#*=})" ;;
    esac
    check "[$mode] seccomp: ${spec%=*} $what" probe_says "$spec"
  done
  [ "$i386" = yes ] || skip "[$mode] seccomp: the i386 entry (int 0x80) gets the same policy" \
    "the kernel has no ia32 emulation"
done

# --- escapes --------------------------------------------------------------------------------------
host_root=$(stat -L -c %d:%i /)
secret="cairn-secret-$RANDOM$RANDOM"
for mode in "${modes[@]}"; do
  marker="cairn-marker-$$-$mode-$RANDOM"
  rm -f "$tmp"/escape-* "/tmp/$marker" "/tmp/$marker.self"
  # The inside script: one line per observation; "ESCAPE ..." lines name what got out.
  # shellcheck disable=SC2016  # expanded inside the sandbox
  script='
marker=$1 hostdir=$2 hostpid=$3
echo "pids: $(ls /proc | grep "^[0-9][0-9]*$" | tr "\n" " ")"
up=$(i=0; while [ $i -lt 40 ]; do printf ../; i=$((i+1)); done)
# pid 1 is cairn'"'"'s copy, made non-dumpable: its /proc entries are closed to the payload.
if (echo x > /proc/1/root/tmp/$marker) 2>/dev/null; then
  echo "wrote /proc/1/root/tmp/$marker"
  [ -e /tmp/$marker ] && echo "marker of /proc/1/root is in the sandbox"
else
  echo "/proc/1/root is closed"
fi
ls /proc/1/root/ >/dev/null 2>&1 || echo "ls /proc/1/root/ is refused"
echo x > /proc/self/root/tmp/$marker.self && echo "wrote /proc/self/root/tmp/$marker.self"
[ -e /tmp/$marker.self ] && echo "marker of /proc/self/root is in the sandbox"
[ "$(stat -L -c %d:%i /proc/self/root)" = "$(stat -c %d:%i /)" ] && echo "/proc/self/root is the root"
[ "$(ls /proc/self/root/)" = "$(ls /)" ] && echo "ls /proc/self/root/ is ls /"
echo "root is $(stat -L -c %d:%i /proc/self/root)"
[ -e "$hostdir" ] && echo "ESCAPE the host directory is visible at $hostdir"
n=0
for link in /proc/[0-9]*/fd/* /proc/[0-9]*/cwd /proc/[0-9]*/root /proc/[0-9]*/map_files/*; do
  n=$((n+1))
  if ls "$link/$up$hostdir" >/dev/null 2>&1; then echo "ESCAPE listed $hostdir through $link -> $(readlink "$link")"; fi
  if (echo escaped > "$link/$up$hostdir/escape-$n") 2>/dev/null; then echo "ESCAPE wrote $hostdir/escape-$n through $link"; fi
done
echo "tried $n links"
for e in /proc/[0-9]*/environ; do tr "\0" "\n" < $e 2>/dev/null | grep -q "^CAIRN_SECURITY_TEST_SECRET=" && echo "ESCAPE the caller environment is readable in $e"; done
/probe chroot-escape "$hostdir"
mount -t tmpfs none / 2>/dev/null; echo "mount tmpfs on / status $?"
mount --bind / /mnt 2>/dev/null; echo "mount --bind / /mnt status $?"
mount -o remount,rw,bind /probe 2>/dev/null; echo "remount /probe rw status $?"
(echo x >> /probe) 2>/dev/null; echo "append to /probe status $?"
umount /proc 2>/dev/null; echo "umount /proc status $?"
kill -0 "$hostpid" 2>/dev/null; echo "kill -0 host pid status $?"
unshare -U true 2>/dev/null; echo "unshare -U status $?"
/probe expect ptrace:$hostpid=ESRCH kill0:$hostpid=ESRCH pidfd_open:$hostpid=ESRCH process_vm_readv:$hostpid=ESRCH keyctl=EPERM add_key=EPERM unshare=EPERM clone=EPERM clone3=ENOSYS
true'
  probe_sum=$(cksum <"$probe")
  status=0
  CAIRN_SECURITY_TEST_SECRET=$secret "$cairn" --root "$store" run --userns "$mode" \
    -v "$probe:/probe:ro" busybox sh -c "$script" sh "$marker" "$tmp" "$host_pid" \
    >"$tmp/out" 2>"$tmp/err" || status=$?
  check "[$mode] the escape attempts ran (status $status)" out_has "tried "
  check "[$mode] /proc/1/root (cairn's copy, not dumpable) is closed to the payload" \
    out_has "/proc/1/root is closed"
  check "[$mode] ... and cannot be listed" out_has "ls /proc/1/root/ is refused"
  check "[$mode] a write to /proc/self/root/tmp lands in the sandbox's /tmp" \
    out_has "marker of /proc/self/root is in the sandbox"
  check "[$mode] ... not in the host's /tmp" test ! -e "/tmp/$marker" -a ! -e "/tmp/$marker.self"
  check "[$mode] /proc/self/root is the sandbox's root" out_has "/proc/self/root is the root"
  check "[$mode] ls /proc/self/root/ lists the sandbox's root" out_has "ls /proc/self/root/ is ls /"
  check "[$mode] ... which is not the host's root" out_lacks "root is $host_root"
  check "[$mode] no magic link of a sandbox process climbs out to the host (/proc/*/fd/*/../..)" \
    out_lacks "ESCAPE"
  found=$(find "$tmp" -maxdepth 1 -name 'escape-*' | head -n 5)
  echo "$found" >"$tmp/diff"
  check "[$mode] ... and nothing was written into the host directory" test -z "$found"
  check "[$mode] the caller's environment is not readable in the sandbox (/proc/*/environ)" \
    out_lacks "ESCAPE the caller environment"
  check "[$mode] the chroot breakout stays in the sandbox" out_has "contained"
  check "[$mode] mount -t tmpfs none / fails" failed_step "mount tmpfs on /"
  check "[$mode] mount --bind / /mnt fails" failed_step "mount --bind / /mnt"
  check "[$mode] the read-only bind of /probe cannot be remounted read-write" failed_step "remount /probe rw"
  check "[$mode] ... nor written" failed_step "append to /probe"
  check "[$mode] ... and the host's file is unchanged" test "$(cksum <"$probe")" = "$probe_sum"
  check "[$mode] umount /proc fails" failed_step "umount /proc"
  check "[$mode] kill -0 of a host process fails" failed_step "kill -0 host pid"
  check "[$mode] unshare -U (a new user namespace) fails" failed_step "unshare -U"
  pids=$(sed -n 's/^pids: //p' "$tmp/out")
  pids=${pids% }
  only_sandbox_pids() {
    local p
    [ -n "$pids" ] || { echo "no pid list" >"$tmp/diff"; return 1; }
    for p in $pids; do
      if [ "$p" -gt 20 ] || [ "$p" -eq "$host_pid" ]; then
        echo "pids in the sandbox's /proc: $pids (host process: $host_pid)" >"$tmp/diff"
        return 1
      fi
    done
  }
  check "[$mode] the sandbox's /proc shows only its own processes ($pids)" only_sandbox_pids
  check "[$mode] ptrace (PTRACE_SEIZE) of a host process fails" probe_says "ptrace:$host_pid=ESRCH"
  check "[$mode] kill(host pid, 0) fails" probe_says "kill0:$host_pid=ESRCH"
  check "[$mode] pidfd_open of a host process fails" probe_says "pidfd_open:$host_pid=ESRCH"
  check "[$mode] process_vm_readv of a host process fails" probe_says "process_vm_readv:$host_pid=ESRCH"
  check "[$mode] keyctl fails" probe_says keyctl=EPERM
  check "[$mode] add_key fails" probe_says add_key=EPERM
  check "[$mode] a new user namespace by unshare fails" probe_says unshare=EPERM
  check "[$mode] ... by clone fails" probe_says clone=EPERM
  check "[$mode] ... by clone3 fails" probe_says clone3=ENOSYS

  # Descriptors the caller has open do not reach the command.
  status=0
  bash -c 'exec 5</etc/passwd 7>"$1/fd7"; shift; exec "$@"' sh "$tmp" \
    "$cairn" --root "$store" run --userns "$mode" -v "$probe:/probe:ro" busybox /probe fds \
    >"$tmp/out" 2>"$tmp/err" || status=$?
  only_std_fds() {
    local fds
    fds=$(awk '{print $1}' "$tmp/out" | sort -n | tr '\n' ' ')
    [ "$fds" = "0 1 2 " ] && return 0
    cp "$tmp/out" "$tmp/diff"
    return 1
  }
  check "[$mode] the command has only descriptors 0, 1 and 2 though the caller had 5 and 7 open" only_std_fds
done

# --- SIGKILL of cairn during a run ----------------------------------------------------------------
# pids_of TAG: the live processes with TAG in their command line (zombies have none).
pids_of() { pgrep -f -- "$1" | tr '\n' ' '; }
temp_entries() { find "$store/cairn/tmp" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort; }
our_mounts() { grep -F -- "$tmp" /proc/self/mountinfo; }
# describe_leftovers PIDS: state and wait channel of each (what a stuck process waits for).
describe_leftovers() {
  local p
  for p in $1; do
    [ -r "/proc/$p/stat" ] || continue
    echo "  pid $p state $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) wchan $(cat "/proc/$p/wchan" 2>/dev/null)" \
      "cmd $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-100)"
  done
}
# unstick PIDS: a process blocked on the dead overlay's FUSE connection cannot be killed;
# aborting the connection (fusectl, where mounted; the directory is the user's) frees it.
unstick() {
  local p dev
  for p in $1; do
    # shellcheck disable=SC2013  # device numbers, one a line
    for dev in $(awk '{for (i = 7; i <= NF; i++) if ($i == "-") break; if ($(i+1) ~ /^fuse/) print $3}' \
      "/proc/$p/mountinfo" 2>/dev/null | sort -u); do
      if [ -w "/sys/fs/fuse/connections/${dev#*:}/abort" ]; then
        echo 1 >"/sys/fs/fuse/connections/${dev#*:}/abort" && echo "# aborted FUSE connection $dev to free pid $p"
      else
        echo "# pid $p is stuck on FUSE connection $dev: as root, mount -t fusectl none /sys/fs/fuse/connections; echo 1 > /sys/fs/fuse/connections/${dev#*:}/abort"
      fi
    done
  done
}

# kill_round MODE TAG DELAY_MS: starts a run whose command line carries TAG, waits until its
# sleep runs (DELAY_MS empty; $startup_ms keeps the longest wait) or DELAY_MS, kills cairn
# with SIGKILL and waits up to 5 s for the run to vanish ($cleanup_ms keeps the longest).
# Failures are appended to $tmp/start-failures and $tmp/kill-failures.
startup_ms=1
cleanup_ms=0
kill_round() {
  local mode=$1 tag=$2 delay=$3 cairn_pid seen="" left="" temp_before temp_after new_temps mounts started killed
  temp_before=$(temp_entries)
  if [ $((${tag: -1} % 2)) -eq 0 ]; then
    "$cairn" --root "$store" run --userns "$mode" busybox sleep "$tag" >/dev/null 2>"$tmp/kill.err" &
  else
    # --commit: the scratch is a directory of the store's tmp/ (else a tmpfs of the run's
    # own mount namespace), which the cleanup watcher must remove; files in the upper, one
    # directory mode 000; no image may come of it.
    "$cairn" --root "$store" run --userns "$mode" --commit "killed-$tag" busybox sh -c \
      "mkdir -p /tmp/w/d && echo x > /tmp/w/d/f && chmod 000 /tmp/w/d /tmp/w && exec sleep $tag" \
      >/dev/null 2>"$tmp/kill.err" &
  fi
  cairn_pid=$!
  if [ -z "$delay" ]; then
    started=$(now_ms)
    for _ in $(seq 200); do
      pgrep -f -- "^sleep $tag\$" >/dev/null && { seen=yes; break; }
      sleep 0.025
    done
    started=$(($(now_ms) - started))
    [ -z "$seen" ] || [ "$started" -le "$startup_ms" ] || startup_ms=$started
    if [ -z "$seen" ]; then
      echo "$mode $tag: the command had not started after 5 s; cairn said: $(head -c 300 "$tmp/kill.err")" >>"$tmp/start-failures"
      describe_leftovers "$(pids_of "$tag")" >>"$tmp/start-failures"
    fi
  else
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  fi
  kill -KILL "$cairn_pid" 2>/dev/null
  killed=$(now_ms)
  for _ in $(seq 100); do
    left=$(pids_of "$tag")
    temp_after=$(temp_entries)
    mounts=$(our_mounts)
    [ -z "$left" ] && [ "$temp_after" = "$temp_before" ] && [ -z "$mounts" ] && break
    sleep 0.05
  done
  killed=$(($(now_ms) - killed))
  [ "$killed" -le "$cleanup_ms" ] || cleanup_ms=$killed
  # Reap our child unless a thread of it is stuck (wait would hang).
  if ! awk '$3 == "D" {found = 1} END {exit !found}' "/proc/$cairn_pid"/task/*/stat 2>/dev/null; then
    wait "$cairn_pid" 2>/dev/null
  fi
  new_temps=$(comm -13 <(echo "$temp_before") <(echo "$temp_after") | tr '\n' ' ')
  if [ -n "$left" ]; then
    echo "$mode $tag${delay:+ (killed after $delay ms)}: processes left after 5 s:" >>"$tmp/kill-failures"
    describe_leftovers "$left" >>"$tmp/kill-failures"
    unstick "$left"
  fi
  [ -z "${new_temps// /}" ] ||
    echo "$mode $tag${delay:+ (killed after $delay ms)}: left in $store/cairn/tmp: $new_temps" >>"$tmp/kill-failures"
  [ -z "$mounts" ] ||
    echo "$mode $tag${delay:+ (killed after $delay ms)}: mounts left: $mounts" >>"$tmp/kill-failures"
}
# none_in FILE: FILE is empty (else check shows it).
none_in() {
  [ -s "$1" ] || return 0
  head -n 40 "$1" >"$tmp/diff"
  return 1
}

mountinfo_before=$(grep -E 'fuse|cairn' /proc/self/mountinfo | cut -d' ' -f4- | sort)
for mode in "${modes[@]}"; do
  : >"$tmp/kill-failures"
  : >"$tmp/start-failures"
  cleanup_ms=0
  begin=$(now_ms)
  for round in $(seq "$kill_rounds"); do
    # (stderr: bash's "Killed" notice for the job)
    kill_round "$mode" "$RANDOM$RANDOM$round" "" 2>/dev/null
  done
  elapsed=$(($(now_ms) - begin))
  echo "# [$mode] $kill_rounds SIGKILL rounds took $((elapsed / 1000)).$(printf %03d $((elapsed % 1000))) s (the longest start-up: $startup_ms ms, the longest wait for the run to vanish: $cleanup_ms ms)"
  check "[$mode] each of $kill_rounds runs started its command within 5 s" none_in "$tmp/start-failures"
  check "[$mode] SIGKILL of cairn while its command runs, $kill_rounds times: no process, mount or temporary directory left" \
    none_in "$tmp/kill-failures"

  : >"$tmp/kill-failures"
  # Anywhere in the start-up: before, during and after the namespaces, the overlay's mount,
  # the seccomp listener's hand-over and the command's exec.
  for round in $(seq "$early_kills"); do
    kill_round "$mode" "$RANDOM$RANDOM$round" $((RANDOM * (startup_ms + 50) / 32768)) 2>/dev/null
  done
  if [ "$early_kills" -gt 0 ]; then
    check "[$mode] SIGKILL of cairn at random instants of its start-up, $early_kills times: nothing left" \
      none_in "$tmp/kill-failures"
  fi
done
mountinfo_after=$(grep -E 'fuse|cairn' /proc/self/mountinfo | cut -d' ' -f4- | sort)
new_mounts() {
  comm -13 <(echo "$mountinfo_before") <(echo "$mountinfo_after") | grep -F -- "$tmp" >"$tmp/diff"
  [ ! -s "$tmp/diff" ]
}
check "the user's mount table has no new FUSE or cairn mount of this test" new_mounts
tmp_empty() {
  temp_entries >"$tmp/diff"
  [ ! -s "$tmp/diff" ]
}
check "the store's tmp directory is empty at the end" tmp_empty
run images
check "no killed run with --commit left an image" out_lacks "killed-"

finish
