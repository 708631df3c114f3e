"""An experiment folder is data, never a path to follow (issue 28): links planted where a
command writes, deletes or reads, and forged rollback records, against a stand-in home folder
that must come out byte for byte as it went in."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from evoprompt.checkpoint.atomic import read_checked_json, write_checked_json
from evoprompt.checkpoint.seal import MAC_FIELD, sign
from evoprompt.checkpoint.store import decode_state
from evoprompt.testing.server import FakeLLMServer
from tests.conftest import cli_env, run_cli
from tests.e2e.conftest import Source, inspect, run_args, tree_hashes

SECRET = b"-----BEGIN OPENSSH PRIVATE KEY----- stand-in"


def exact_tree(folder: Path) -> dict[str, object]:
    """Every entry under ``folder`` (links as their target, never followed), with file bytes."""
    found: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_symlink():
            found[name] = f"-> {os.readlink(path)}"
        elif path.is_dir():
            found[name] = "dir"
        else:
            found[name] = path.read_bytes()
    return found


def make_home(where: Path, src: Path) -> Path:
    """A stand-in home: private files, and copies of the experiment's own folders (a link to
    a look-alike lets a command that follows it go on and write there)."""
    home = where / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_bytes(SECRET)
    (home / ".config" / "app").mkdir(parents=True)
    (home / ".config" / "app" / "settings").write_text("keep me\n")
    (home / "backup.2024").mkdir()
    (home / "backup.2024" / "photos.tar").write_text("irreplaceable\n")
    shutil.copytree(src, home / "src", symlinks=True)
    shutil.copytree(src / "checkpoints", home / "checkpoints", symlinks=True)
    shutil.copy2(src / "journal.sqlite", home / "journal.sqlite")
    shutil.copy2(src / "checkpoints/state_gen1.pkl", home / "state_gen1.pkl")
    return home


def plant(link: Path, target: Path) -> None:
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)
    else:
        link.unlink(missing_ok=True)
    link.symlink_to(target)


def journal_rows(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])


def no_secret_under(root: Path) -> bool:
    return all(
        SECRET not in p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()
    )


@pytest.fixture(scope="session")
def rolled(source: Source, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The source rolled back to generation 1: a resume of it has generations to pay for."""
    root = tmp_path_factory.mktemp("rolled")
    source.copy_to(root)
    done = run_cli(["rollback", "src", "--to-generation", "1", "--result-dir", str(root)], {})
    assert done.returncode == 0, done.stderr
    return root / "src"


# -- the findings, one by one ------------------------------------------------------------------


def test_rollback_never_deletes_through_a_planted_rolled_back_link(
    tmp_path: Path, source: Source
) -> None:
    """Finding 1: ``rolled_back -> ~`` made a rollback delete the home's hidden folders."""
    src = source.copy_to(tmp_path / "result")
    home = make_home(tmp_path, src)
    link = src / "checkpoints/rolled_back"
    plant(link, home)
    before, mine = exact_tree(home), tree_hashes(src)
    done = run_cli(
        ["rollback", "src", "--to-generation", "1", "--result-dir", str(tmp_path / "result")], {}
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == done.stderr.strip().splitlines()[0]
    assert f"symbolic link {link}" in done.stderr and "Traceback" not in done.stderr
    assert exact_tree(home) == before
    assert tree_hashes(src) == mine


def test_fork_never_deletes_through_a_planted_staging_link(tmp_path: Path, source: Source) -> None:
    """Finding 2: ``.staging -> DIR`` made a fork delete ``DIR/backup.2024/`` and build in DIR."""
    result = tmp_path / "result"
    src = source.copy_to(result)
    home = make_home(tmp_path, src)
    (home / "f2.1").mkdir()  # looks like a leftover of a dead fork
    plant(result / ".staging", home)
    before = exact_tree(home)
    argv = ["fork", "src", "--at-generation", "1", "--experiment-id", "f2"]
    done = run_cli(run_args(result, *argv), cli_env(None))
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert f"symbolic link {result / '.staging'}" in done.stderr
    assert exact_tree(home) == before
    assert sorted(p.name for p in result.iterdir()) == [".staging", "src"]


def test_fork_sweeps_only_its_own_dead_leftovers(tmp_path: Path, source: Source) -> None:
    """A real ``.staging`` holding other things: only ``<id>.<dead pid>`` folders go."""
    result = tmp_path / "result"
    source.copy_to(result)
    staging = result / ".staging"
    (staging / "old.999999999").mkdir(parents=True)  # a fork killed long ago: swept
    (staging / "backup-2024").mkdir()  # not a fork's name: kept
    (staging / "notes.123").write_text("a file, not a fork's folder\n")
    (staging / "x.999999998").symlink_to(tmp_path)
    argv = ["fork", "src", "--at-generation", "2", "--experiment-id", "f2"]
    with FakeLLMServer() as fake:
        done = run_cli(run_args(result, *argv), cli_env(fake))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in staging.iterdir()) == ["backup-2024", "notes.123", "x.999999998"]


@pytest.mark.parametrize("target_exists", [False, True])
def test_fork_onto_a_linked_id_is_one_line_and_creates_nothing(
    tmp_path: Path, source: Source, target_exists: bool
) -> None:
    """Finding 8: a fork onto an id whose folder is a dangling link gave a traceback."""
    result = tmp_path / "result"
    source.copy_to(result)
    elsewhere = tmp_path / "elsewhere"
    if target_exists:
        elsewhere.mkdir()
    (result / "f2").symlink_to(elsewhere)
    argv = ["fork", "src", "--at-generation", "1", "--experiment-id", "f2"]
    done = run_cli(run_args(result, *argv), cli_env(None))
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert f"symbolic link {result / 'f2'}" in done.stderr
    assert sorted(p.name for p in result.iterdir()) == ["f2", "src"]
    assert not target_exists or list(elsewhere.iterdir()) == []
    assert target_exists or not elsewhere.exists()


def _forge(src: Path, **fields: object) -> Path:
    """A rollback record with a valid (recomputed) checksum, not yet done, and even signed by
    this user's key (as if copied from one of their own interrupted rollbacks): what it names
    is checked all the same."""
    cutoff = decode_state(src / "checkpoints/state_gen1.pkl")[0]["created"]
    record = {
        "to_generation": 1,
        "from_generation": 3,
        "cutoff": cutoff,
        "keep_answers": False,
        "files": [],
        "answers": 10,
        "created": 0.0,
        "done": False,
        **fields,
    }
    aside = src / "checkpoints/rolled_back/20240101_000000_g3_to_g1"
    aside.mkdir(parents=True)
    write_checked_json(aside / "rollback.json", sign(record, src))
    return aside / "rollback.json"


@pytest.mark.parametrize(
    "forged",
    [
        {"files": ["../../victim/notes.txt"]},
        {"files": ["ABSOLUTE"]},
        {"files": ["checkpoints/../../victim/state_gen2.pkl"]},
        {"cutoff": 0},  # every answer "after" generation 1
        {},  # a true cutoff, but no set-aside copy of the answers it would delete
    ],
)
def test_a_forged_rollback_record_deletes_nothing_and_stops_the_resume(
    tmp_path: Path, source: Source, forged: dict[str, object]
) -> None:
    """Finding 3: a forged record unlinked outside files and erased every paid answer."""
    result = tmp_path / "result"
    src = source.copy_to(result)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "notes.txt").write_text("outside\n")
    (victim / "state_gen2.pkl").write_text("outside\n")
    files = [str(victim / "notes.txt") if f == "ABSOLUTE" else f for f in forged.get("files", [])]
    manifest = _forge(src, **{**forged, **({"files": files} if "files" in forged else {})})
    rows, before = journal_rows(src / "journal.sqlite"), exact_tree(victim)
    checked = inspect("verify", "src", "--result-dir", str(result))
    assert checked.code == 1 and "not applied" in checked.out, checked.out
    with FakeLLMServer() as fake:
        done = run_cli(run_args(result, "--experiment-id", "src"), cli_env(fake))
        requests = fake.counts["requests"]
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert str(manifest) in done.stderr and "not applied" in done.stderr
    assert requests == 0
    assert journal_rows(src / "journal.sqlite") == rows
    assert exact_tree(victim) == before


def _replant(real: Path, src: Path, how: str) -> Path:
    """A real, finished rollback record (and a copy of the journal beside it) put into ``src``
    as one not yet done, its checksum recomputed: its MAC kept as it was (now wrong), dropped,
    or signed again by this user's key (a rollback killed after its commit point)."""
    record = {k: v for k, v in read_checked_json(real).items() if k != "checksum"}
    record["done"] = False
    if how == "dropped":
        del record[MAC_FIELD]
    elif how == "signed":
        record = sign(record, src)
    aside = src / "checkpoints/rolled_back/20261206_999999_g2_to_g0"
    aside.mkdir(parents=True)
    write_checked_json(aside / "rollback.json", record)
    shutil.copy2(src / "journal.sqlite", aside / "journal.sqlite")
    return aside / "rollback.json"


@pytest.fixture(scope="module")
def real_record(source: Source, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The record ``rollback src --to-generation 0`` writes (done, signed)."""
    root = tmp_path_factory.mktemp("real_record")
    source.copy_to(root)
    done = run_cli(["rollback", "src", "--to-generation", "0", "--result-dir", str(root)], {})
    assert done.returncode == 0, done.stderr
    (record,) = (root / "src/checkpoints/rolled_back").glob("*/rollback.json")
    assert MAC_FIELD in read_checked_json(record)
    return record


@pytest.mark.parametrize("how", ["stale", "dropped"])
def test_a_copied_rollback_record_is_not_applied_without_the_key(
    tmp_path: Path, source: Source, real_record: Path, how: str
) -> None:
    """A real record replanted as not yet done, beside a journal copy, passes every check of
    what it names: a plain resume of the finished run rewound it and paid 214 calls again,
    and verify said all was well. Unsigned, it is applied only with --trust-folder."""
    result = tmp_path / "result"
    src = source.copy_to(result)
    manifest = _replant(real_record, src, how)
    before = tree_hashes(src)
    checked = inspect("verify", "src", "--result-dir", str(result))
    assert checked.code == 1 and "not signed by your key" in checked.out, checked.out
    with FakeLLMServer() as fake:
        done = run_cli(run_args(result, "--experiment-id", "src"), cli_env(fake))
        refused = fake.counts["requests"]
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert str(manifest) in done.stderr and "--trust-folder" in done.stderr
    assert refused == 0 and tree_hashes(src) == before
    with FakeLLMServer() as fake:
        trusted = run_cli(
            run_args(result, "--experiment-id", "src", "--trust-folder"), cli_env(fake)
        )
        paid = fake.counts["answered"]
    assert trusted.returncode == 0, trusted.stderr
    assert "finished an interrupted rollback from generation" in trusted.stderr
    assert paid > 0  # the answers it set aside, asked again: what the user agreed to
    assert '"done": true' in manifest.read_text()


def test_a_signed_pending_rollback_is_finished_by_a_plain_resume_and_says_so(
    tmp_path: Path, source: Source, real_record: Path
) -> None:
    result = tmp_path / "result"
    src = source.copy_to(result)
    manifest = _replant(real_record, src, "signed")
    real = read_checked_json(real_record)
    checked = inspect("verify", "src", "--result-dir", str(result))
    assert checked.code == 0, checked.out
    with FakeLLMServer() as fake:
        done = run_cli(run_args(result, "--experiment-id", "src"), cli_env(fake))
    assert done.returncode == 0, done.stderr
    line = (
        f"finished an interrupted rollback from generation {real['from_generation']} to 0 "
        f"({real['answers']} answers set aside"
    )
    assert line in done.stderr
    assert '"done": true' in manifest.read_text()


def test_a_garbled_rollback_record_is_reported_and_never_applied(
    tmp_path: Path, source: Source, real_record: Path
) -> None:
    result = tmp_path / "result"
    src = source.copy_to(result)
    manifest = _replant(real_record, src, "signed")
    manifest.write_bytes(manifest.read_bytes()[:-40])  # truncated
    garbled, rows = manifest.read_bytes(), journal_rows(src / "journal.sqlite")
    checked = inspect("verify", "src", "--result-dir", str(result))
    assert checked.code == 1 and "rollback.json" in checked.out, checked.out
    with FakeLLMServer() as fake:
        done = run_cli(run_args(result, "--experiment-id", "src"), cli_env(fake))
        assert fake.counts["requests"] == 0
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "already finished" in done.stderr
    assert manifest.read_bytes() == garbled and journal_rows(src / "journal.sqlite") == rows


def test_temp_files_left_by_a_kill_are_swept_under_the_lock(tmp_path: Path, rolled: Path) -> None:
    """Finding 8: kill -9 during an atomic write left ``.population.jsonl.*.tmp`` behind."""
    result = tmp_path / "result"
    shutil.copytree(rolled, result / "src", symlinks=True)
    src = result / "src"
    left = [src / ".population.jsonl.a1b2c3d4.tmp", src / "checkpoints/.state_gen2.pkl.4242.tmp"]
    left.append(src / "checkpoints/batches/.gen2_batch0.json.zz_9x8y7.tmp")
    for path in left:
        path.write_bytes(b"half a file")
    home = make_home(tmp_path, src)
    (src / ".latest.json.linked.tmp").symlink_to(home / ".ssh/id_rsa")
    before = exact_tree(home)
    with FakeLLMServer() as fake:
        done = run_cli(run_args(result, "--experiment-id", "src"), cli_env(fake))
    assert done.returncode == 0, done.stderr
    assert not any(p.exists() for p in left)
    assert [p.name for p in src.rglob("*.tmp")] == [".latest.json.linked.tmp"]  # a link: kept
    assert exact_tree(home) == before


# -- every command, with a link planted where it writes, deletes or reads ---------------------

PLANTS = {
    "src/checkpoints": "checkpoints",  # a look-alike: a command that follows it goes on
    "src/checkpoints/batches": "checkpoints/batches",
    "src/checkpoints/rolled_back": ".",
    "src/checkpoints/state_gen1.pkl": "state_gen1.pkl",
    "src/journal.sqlite": "journal.sqlite",
    "src/population.jsonl": ".ssh/id_rsa",
    "src": "src",
    ".staging": ".",
}
COMMANDS = {
    "resume": ["--experiment-id", "src"],
    "rollback": ["rollback", "src", "--to-generation", "0"],
    "fork": ["fork", "src", "--at-generation", "1", "--experiment-id", "f2"],
    "test": ["test", "src", "--test-size", "8"],
    "verify": ["verify", "src"],
    "report": ["report", "src", "--format", "md"],
}


@pytest.mark.parametrize("planted", list(PLANTS))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_no_command_follows_a_planted_link(
    tmp_path: Path, source: Source, rolled: Path, command: str, planted: str
) -> None:
    result = tmp_path / "result"
    if command == "resume":
        shutil.copytree(rolled, result / "src", symlinks=True)
    else:
        source.copy_to(result)
    home = make_home(tmp_path, result / "src")
    link = result / planted
    plant(link, home / PLANTS[planted])
    before = exact_tree(home)
    argv = [*COMMANDS[command], "--result-dir", str(result)]
    if command in ("verify", "report"):
        done = inspect(*argv)
        code, out = done.code, done.out + done.err
    else:
        with FakeLLMServer() as fake:
            paying = command in ("resume", "fork")
            ran = run_cli(run_args(result, *argv) if paying else argv, cli_env(fake))
        code, out = ran.returncode, ran.stdout + ran.stderr
    assert "Traceback" not in out
    assert code == 0 or f"symbolic link {link}" in out, out[-2000:]
    assert exact_tree(home) == before
    assert SECRET.decode() not in out and no_secret_under(result)


def test_run_and_sweep_refuse_a_linked_folder(tmp_path: Path, source: Source) -> None:
    result = tmp_path / "result"
    result.mkdir()
    home = make_home(tmp_path, source.root / "src")
    before = exact_tree(home)
    (result / "new").symlink_to(home / "src")
    ran = run_cli(
        run_args(result, "--experiment-id", "new", "--max-generations", "1"), cli_env(None)
    )
    grid = tmp_path / "grid.toml"
    grid.write_text(
        "population_size = 4\ndev_size = 8\nmax_generations = 1\n[grid]\nseed = [1, 2]\n"
    )
    (result / "sw").symlink_to(home / "backup.2024")
    swept = run_cli(
        ["sweep", str(grid), "--sweep-id", "sw", "--result-dir", str(result)], cli_env(None)
    )
    for done, link in ((ran, result / "new"), (swept, result / "sw")):
        assert done.returncode == 2, done.stderr
        assert f"symbolic link {link}" in done.stderr and "Traceback" not in done.stderr
    assert exact_tree(home) == before


# -- hard links and odd files (the outside review of issue 28) --------------------------------


def one_line_refusal(done: subprocess.CompletedProcess[str], path: Path, why: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert errors == done.stderr.strip().splitlines()[-1:], done.stderr
    assert str(path) in errors[0] and why in errors[0], done.stderr


def outside_database(home: Path) -> Path:
    path = home / "app.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE mine (x)")
    return path


@pytest.mark.parametrize("name", [".lock", "recovery.log", "journal.sqlite"])
def test_a_resume_never_writes_a_hard_linked_file(tmp_path: Path, rolled: Path, name: str) -> None:
    """``ln ~/.ssh/id_rsa exp/.lock`` made a run write its pid into the key; a hard-linked
    journal got the journal's tables created inside another program's database."""
    result = tmp_path / "result"
    src = result / "src"
    shutil.copytree(rolled, src, symlinks=True)
    home = make_home(tmp_path, src)
    target = outside_database(home) if name == "journal.sqlite" else home / ".ssh/id_rsa"
    for old in src.glob(f"{name}*"):
        old.unlink()
    os.link(target, src / name)
    before = exact_tree(home)
    with FakeLLMServer() as fake:
        done = run_cli(run_args(result, "--experiment-id", "src"), cli_env(fake))
        assert not fake.answered_bodies
    one_line_refusal(done, src / name, "it is hard-linked")
    assert exact_tree(home) == before


def test_a_report_replaces_a_hard_linked_page_never_writes_through_it(
    tmp_path: Path, source: Source
) -> None:
    result = tmp_path / "result"
    src = source.copy_to(result)
    home = make_home(tmp_path, src)
    os.link(home / ".ssh/id_rsa", src / "report.html")
    before = exact_tree(home)
    done = inspect("report", "src", "--result-dir", str(result))
    assert done.code == 0, done.err
    assert exact_tree(home) == before
    assert b"<html" in (src / "report.html").read_bytes()
    assert os.stat(src / "report.html").st_nlink == 1


FIFO_AT = [
    "config.json",
    "summary.json",
    "checkpoints/latest.json",
    "population.jsonl",
    "generations.csv",
]
READERS = {
    "list": ["list"],
    "status": ["status", "src"],
    "verify": ["verify", "src"],
    "report": ["report", "src", "--format", "md"],
    "resume": ["--experiment-id", "src"],
}


@pytest.mark.parametrize("fifo", FIFO_AT)
@pytest.mark.parametrize("command", list(READERS))
def test_a_planted_fifo_never_hangs_a_command(
    tmp_path: Path, source: Source, rolled: Path, command: str, fifo: str
) -> None:
    """A FIFO where a file belongs blocked ``list`` (for the whole folder), status, verify,
    report and resume forever; now it is refused (or taken for a damaged file) at once."""
    result = tmp_path / "result"
    shutil.copytree(rolled if command == "resume" else source.root / "src", result / "src")
    source.copy_to(result, "other")
    (result / "src" / fifo).unlink(missing_ok=True)
    os.mkfifo(result / "src" / fifo)
    argv = [*READERS[command], "--result-dir", str(result)]
    with FakeLLMServer() as fake:
        done = run_cli(run_args(result, *argv) if command == "resume" else argv, cli_env(fake), 60)
    out = done.stdout + done.stderr
    assert "Traceback" not in out
    assert done.returncode == 0 or "not a regular file" in out, out[-2000:]
    if command == "list":
        assert done.returncode == 0 and "other" in done.stdout, out


SWEEP = "population_size = 4\ndev_size = 8\nmax_generations = 1\nprune = false\n"
SWEEP += "retry_delay = 0.01\n[grid]\nseed = [1]\n"


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-cell sweep ``sw`` (its grid file beside its result folder)."""
    root = tmp_path_factory.mktemp("swept")
    (root / "sw.toml").write_text(SWEEP)
    with FakeLLMServer() as fake:
        argv = ["sweep", str(root / "sw.toml"), "--sweep-id", "sw", "--result-dir", str(root / "r")]
        done = run_cli(argv, cli_env(fake))
    assert done.returncode == 0, done.stderr
    return root


def test_a_sweep_rerun_refuses_a_linked_aggregate_in_one_line(tmp_path: Path, swept: Path) -> None:
    shutil.copytree(swept, tmp_path / "s", symlinks=True)
    outside = tmp_path / "outside.csv"
    outside.write_text("keep me\n")
    aggregate = tmp_path / "s/r/sw/aggregate.csv"
    aggregate.unlink()
    aggregate.symlink_to(outside)
    argv = ["sweep", str(tmp_path / "s/sw.toml"), "--sweep-id", "sw"]
    with FakeLLMServer() as fake:
        done = run_cli([*argv, "--result-dir", str(tmp_path / "s/r")], cli_env(fake))
    one_line_refusal(done, aggregate, "symbolic link")
    assert outside.read_text() == "keep me\n"


def test_a_sweep_report_never_writes_through_a_hard_link_nor_hangs_on_a_fifo(
    tmp_path: Path, swept: Path
) -> None:
    shutil.copytree(swept, tmp_path / "s", symlinks=True)
    result, sweep = tmp_path / "s/r", tmp_path / "s/r/sw"
    key = tmp_path / "id_rsa"
    key.write_bytes(SECRET)
    os.link(key, sweep / "sweep_report.html")
    argv = ["sweep-report", "sw", "--result-dir", str(result)]
    done = run_cli(argv, cli_env(None), 60)
    assert done.returncode == 0, done.stderr
    assert key.read_bytes() == SECRET and b"<html" in (sweep / "sweep_report.html").read_bytes()
    (sweep / "sweep.json").unlink()
    os.mkfifo(sweep / "sweep.json")
    for command in (argv, ["list", "--result-dir", str(result)]):
        done = run_cli(command, cli_env(None), 60)
        assert "Traceback" not in done.stderr and done.returncode in (0, 2), done.stderr


@pytest.mark.parametrize("kind", ["fifo", "file"])
def test_a_fork_refuses_a_staging_that_is_not_a_folder(
    tmp_path: Path, source: Source, kind: str
) -> None:
    result = tmp_path / "result"
    source.copy_to(result)
    staging = result / ".staging"
    if kind == "fifo":
        os.mkfifo(staging)
    else:
        staging.write_text("not a folder\n")
    argv = ["fork", "src", "--at-generation", "1", "--experiment-id", "f7"]
    done = run_cli(run_args(result, *argv), cli_env(None), 60)
    one_line_refusal(done, staging, "it is not a folder")
    assert sorted(p.name for p in result.iterdir()) == [".staging", "src"]
