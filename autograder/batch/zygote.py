"""One clean process per batch that has imported torch once, from which every grading
worker and every worker's sandbox template is forked (issue 16): the fixed cost of a
batch is one torch import instead of one per worker plus one per template, and the
pages torch's import made are shared by the whole process tree.

Why not multiprocessing's forkserver: on Python 3.11 it listens on a named socket in
/tmp, and whatever connects to it runs unpickled code outside the sandbox. The zygote
is reached only through a socket pair the batch process holds.

It stays as clean as the template (template.py): it is started with -E -s and the
sandbox's environment, imports exactly what the template imports, and never sees the
course, the tests or a submission. A worker receives those from the batch process over
its own pipe, after the fork.

    zygote -> template (setsid, its own log; serves the forks of one worker's sandboxes)
           -> worker (restores the batch's environment, then grades)

This file is run by path (not as autograder.batch.zygote) inside the zygote, so the
batch package's imports never load there.
"""
from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import sys
import threading
import traceback


def serve(control_fd: int, kit_parent: str) -> None:
    # No garbage collections while torch imports: it creates ~330k objects, none of them
    # garbage, and the collections their allocations set off walk them again and again
    # (0.3-0.5 s of a 2 s import here). They are frozen before the first fork, and the
    # collector is back on before it, so every worker, template and sandbox has it.
    gc.disable()
    import importlib.util
    if kit_parent and importlib.util.find_spec("autograder") is None:
        sys.path.append(kit_parent)  # a checkout that is not installed
    control = socket.socket(fileno=control_fd)
    _die_with_parent()
    import numpy  # noqa: F401 - the template's imports, shared by everything forked here
    import torch
    from autograder.sandbox import template
    # The batch's plan, decided while torch imported (siblings.Zygote.plan): what else
    # the graded code needs (torchvision brings torch._dynamo, which any optimizer step
    # loads: 2 s) and whether the class is large enough for folding to pay.
    plan = json.loads(control.recv(1 << 16) or b"{}")
    preload = tuple(str(name) for name in plan.get("preload", ()))
    folding = None
    if plan.get("fold"):
        # torch's pages fold on another core while the rest imports (madvise runs without
        # the GIL); what the rest adds is folded after; all of it before the first fork,
        # so every worker, template and sandbox shares the huge pages
        folding = threading.Thread(target=template.fold_into_huge_pages)
        folding.start()
    template.preload_modules((*template.ALWAYS, *preload))
    template.import_sandbox_code()
    template.list_kit_modules()  # once, for every template forked from here
    if folding is not None:
        folding.join()
        template.fold_into_huge_pages()
    template.freeze_for_forks()  # workers and templates forked from here
    gc.enable()
    control.send(json.dumps({"ready": True, "torch": torch.__version__}).encode())
    exits: dict[int, int] = {}
    while True:
        ready, _, _ = select.select([control], [], [], 0.5)
        _reap(exits)
        if not ready:
            continue
        try:
            message, fds, _, _ = socket.recv_fds(control, 1 << 16, 4)
        except OSError:
            return
        if not message:
            return  # the batch is over (or gone)
        request = json.loads(message)
        if request.get("kind") == "exitcode":
            control.send(json.dumps({"exitcode": _exit_code(int(request["pid"]), exits)}).encode())
            continue
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                control.close()
                if request.get("kind") == "template":
                    _become_template(request, fds, kit_parent, preload)
                else:
                    _become_worker(fds)
                code = 0
            except BaseException:  # noqa: BLE001 - a forked child must never return into this loop
                traceback.print_exc()
            finally:
                os._exit(code)
        for fd in fds:
            os.close(fd)
        control.send(json.dumps({"pid": pid}).encode())


def end() -> None:
    """Leave without the interpreter's teardown: with torch loaded it takes over a second,
    which the batch would wait for at its end, and the zygote has nothing to flush but
    stderr (its children are gone or are their workers' to stop)."""
    sys.stderr.flush()
    os._exit(0)


def _die_with_parent() -> None:
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _reap(exits: dict[int, int]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        exits[pid] = os.waitstatus_to_exitcode(status)


def _exit_code(pid: int, exits: dict[int, int]) -> int | None:
    """The exit code as multiprocessing gives it (-N: killed by signal N); asked only
    once the batch process has seen the worker end."""
    if pid not in exits:
        try:
            _, status = os.waitpid(pid, 0)
            exits[pid] = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            return None
    return exits.pop(pid)


def _keep_only_fds(keep: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _become_template(request: dict, fds: list[int], kit_parent: str, preload: tuple) -> None:
    """What launcher.Template starts with Popen, minus the import: its own session,
    folder, environment and log, and no descriptor but its control socket."""
    (control_fd,) = fds
    os.setsid()
    os.chdir(request["home"])
    os.environ.clear()
    os.environ.update(request["env"])
    devnull = os.open(os.devnull, os.O_RDWR)
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    for target, fd in ((0, devnull), (1, devnull), (2, log)):
        os.dup2(fd, target)
    _keep_only_fds({0, 1, 2, control_fd})
    from autograder.sandbox.template import main
    main(control_fd, kit_parent, fold_after=None, preload=preload)  # folded already, or not worth it


def _become_worker(fds: list[int]) -> None:
    """A grading worker: the course, options, the batch's environment, sys.path and
    working directory, and its template's pid and log come over its own pipe, never
    through the zygote."""
    conn_fd, template_fd = fds
    _keep_only_fds({0, 1, 2, conn_fd, template_fd})
    from multiprocessing.connection import Connection
    conn = Connection(conn_fd)
    course, options, environ, path, cwd, template_pid, template_log = conn.recv()
    os.environ.clear()
    os.environ.update(environ)
    sys.path[:] = path
    os.chdir(cwd)
    from autograder.batch.pool import _worker_main
    from autograder.batch.siblings import AdoptedTemplate
    template = AdoptedTemplate(options.torch_threads, socket.socket(fileno=template_fd), template_pid, template_log)
    _worker_main(conn, course, options, template)
