"""The seccomp filter every bubblewrap sandbox runs under: the list of system calls no task needs,
each with the reason it is denied, compiled by libseccomp (loaded with ctypes) into the BPF program
that bwrap loads with `--seccomp FD` just before it starts the sandbox's program.

Contract: `DENIED` is the reviewed deny list; `filter_program()` returns the compiled program for this
machine's native architecture (other architectures' system call numbers, x32 and i386 included, kill
the process) and raises `SeccompUnavailable` when libseccomp cannot be loaded. Everything not denied is
allowed: the filter narrows the kernel's surface, the namespaces and limits do the confining.
"""

from __future__ import annotations

import errno
import functools
import os
from typing import NamedTuple


class Denial(NamedTuple):
    """One rule: the system call, the errno it fails with, and why no task needs it."""

    syscall: str
    error: int
    why: str


def _deny(names: str, why: str, error: int = errno.EPERM) -> list[Denial]:
    return [Denial(name, error, why) for name in names.split()]


DENIED: tuple[Denial, ...] = (
    *_deny("add_key keyctl request_key", "kernel keyrings are keyed by user, not by sandbox: a key left "
           "by one attempt could be read by another"),
    *_deny("ptrace process_vm_readv process_vm_writev kcmp pidfd_getfd",
           "reading or writing another process's memory or descriptors"),
    *_deny("bpf perf_event_open userfaultfd", "large kernel surfaces behind many past privilege escalations"),
    *_deny("io_uring_setup io_uring_enter io_uring_register", "io_uring bypasses the per-call filter"),
    *_deny("unshare setns", "new namespaces (nested user namespaces are also disabled by bwrap)"),
    *_deny("mount umount2 pivot_root chroot open_tree move_mount fsopen fsconfig fsmount fspick "
           "mount_setattr", "changing the filesystem the sandbox sees"),
    *_deny("init_module finit_module delete_module kexec_load kexec_file_load reboot swapon swapoff "
           "syslog acct quotactl settimeofday clock_settime clock_adjtime adjtimex",
           "machine administration"),
    *_deny("open_by_handle_at name_to_handle_at", "opening files by handle, around the mount table"),
    *_deny("memfd_create memfd_secret", "anonymous memory files outside the address-space limit"),
    *_deny("shmget", "System V shared memory outside the address-space limit"),
    *_deny("uselib personality ioperm iopl modify_ldt", "legacy or hardware interfaces"),
    Denial("clone3", errno.ENOSYS, "its flags cannot be inspected; the C library falls back to clone"),
)
# clone flags that make a new namespace: clone with any of them fails (threads and forks are fine).
NAMESPACE_FLAGS = {"CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000,
                   "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
                   "CLONE_NEWNET": 0x40000000, "CLONE_NEWTIME": 0x00000080}
AF_UNIX = 1
TIOCSTI = 0x5412  # pushes characters into a terminal's input: denied whatever the terminal


class SeccompUnavailable(RuntimeError):
    """libseccomp cannot be loaded here."""


# libseccomp's ABI (seccomp.h, stable since 2.0): actions, comparison operators, filter attributes.
_ALLOW, _KILL_PROCESS = 0x7FFF0000, 0x80000000
_NE, _MASKED_EQ = 1, 7
_ATTR_ACT_BADARCH = 2


def _errno_action(error: int) -> int:
    return 0x00050000 | (error & 0xFFFF)


def _library():
    """libseccomp through ctypes, loaded by its soname (no `ldconfig` run, unlike `find_library`)."""
    import ctypes

    class ArgCompare(ctypes.Structure):  # struct scmp_arg_cmp
        _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                    ("datum_b", ctypes.c_uint64)]

    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError as exc:
        raise SeccompUnavailable(f"libseccomp cannot be loaded ({exc}); install libseccomp2") from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(ArgCompare)]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib, ArgCompare


@functools.cache
def filter_program() -> bytes:
    """The compiled BPF program (see the module docstring); built once per process."""
    lib, ArgCompare = _library()
    context = lib.seccomp_init(_ALLOW)
    if not context:
        raise SeccompUnavailable("libseccomp could not start a filter")
    try:
        def add(action: int, syscall: str, *compares: tuple[int, int, int, int]) -> None:
            number = lib.seccomp_syscall_resolve_name(syscall.encode("ascii"))
            if number < 0:  # not a system call of this architecture (e.g. modify_ldt off x86)
                return
            array = (ArgCompare * max(len(compares), 1))(*[ArgCompare(*c) for c in compares])
            if lib.seccomp_rule_add_array(context, action, number, len(compares), array) != 0:
                raise SeccompUnavailable(f"libseccomp refused the rule for {syscall}")

        lib.seccomp_attr_set(context, _ATTR_ACT_BADARCH, _KILL_PROCESS)
        for denial in DENIED:
            add(_errno_action(denial.error), denial.syscall)
        for flag in NAMESPACE_FLAGS.values():
            add(_errno_action(errno.EPERM), "clone", (0, _MASKED_EQ, flag, flag))
        # no IP, netlink or packet sockets: only Unix ones (and the network namespace is empty anyway)
        add(_errno_action(errno.EAFNOSUPPORT), "socket", (0, _NE, AF_UNIX, 0))
        add(_errno_action(errno.EPERM), "ioctl", (1, _MASKED_EQ, 0xFFFFFFFF, TIOCSTI))
        return _exported(lib, context)
    finally:
        lib.seccomp_release(context)


def _exported(lib, context) -> bytes:
    read_end, write_end = os.pipe()  # the program is about a kilobyte: it fits in the pipe's buffer
    with open(read_end, "rb") as program:
        try:
            if lib.seccomp_export_bpf(context, write_end) != 0:
                raise SeccompUnavailable("libseccomp could not export the filter")
        finally:
            os.close(write_end)
        return program.read()


def program_fd() -> int:
    """A pipe's read end holding the program, for bwrap's `--seccomp FD` (the caller closes it)."""
    program = filter_program()
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, program)  # about a kilobyte: far below a pipe's buffer
    finally:
        os.close(write_end)
    return read_end
