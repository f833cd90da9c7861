"""Hostile input never crashes vlab: every bad spec, file or SMILES is one fast, clear error."""

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vlab.campaign import get_kind, load_spec, parse_spec
from vlab.campaign import spec as spec_module
from vlab.campaign.inputs import make_items
from vlab.cli import main
from vlab.errors import ConfigError, InvalidSMILESError, SpecError
from vlab.polymers.smiles import MAX_HEAVY_ATOMS, canonical_repeat_unit, parse_smiles

GOOD = {
    "name": "p",
    "kind": "engine-probe",
    "store": "p.zarr",
    "inputs": {"generator": "range", "n": 10},
}
BOMB = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)
PROBE = "name: p\nkind: engine-probe\nstore: p.zarr\ninputs: {generator: range, n: 5}\n"


def _inputs(**change):
    return {**GOOD, "inputs": {**GOOD["inputs"], **change}}


# (spec, words the message must hold: the key and the limit or rule)
BAD_SPECS = {
    "huge n": (_inputs(n=10**12), ["'inputs.n'", "10,000,000", "MAX_ITEMS"]),
    "n: true": (_inputs(n=True), ["'inputs.n'", "integer", "Got True"]),
    "n: 2.5": (_inputs(n=2.5), ["'inputs.n'", "integer", "Got 2.5"]),
    "n: 0": (_inputs(n=0), ["'inputs.n'", "> 0"]),
    "n: '5'": (_inputs(n="5"), ["'inputs.n'", "integer", "Got '5'"]),
    "seed: -1": (_inputs(seed=-1), ["'inputs.seed'", ">= 0", "4,294,967,295"]),
    "seed: 2**32": (_inputs(seed=2**32), ["'inputs.seed'", "4,294,967,295", "MAX_SEED"]),
    "seed: 1.5": (_inputs(seed=1.5), ["'inputs.seed'", "integer"]),
    "huge chunk_size": ({**GOOD, "chunk_size": 10**12}, ["'chunk_size'", "MAX_CHUNK_SIZE"]),
    "chunk_size: -1": ({**GOOD, "chunk_size": -1}, ["'chunk_size'", "> 0"]),
    "chunk_size: 0": ({**GOOD, "chunk_size": 0}, ["'chunk_size'", "> 0"]),
    "chunk_size: true": ({**GOOD, "chunk_size": True}, ["'chunk_size'", "integer"]),
    "retries: -1": ({**GOOD, "retries": -1}, ["'retries'", ">= 0"]),
    "retries: 1000": ({**GOOD, "retries": 1000}, ["'retries'", "<= 100", "MAX_RETRIES"]),
    "retries: false": ({**GOOD, "retries": False}, ["'retries'", "integer"]),
    "register: 'no'": ({**GOOD, "register": "no"}, ["'register'", "true or false"]),
    "register: 1": ({**GOOD, "register": 1}, ["'register'", "true or false"]),
    "description: 5": ({**GOOD, "description": 5}, ["'description'", "a text"]),
    "huge description": (
        {**GOOD, "description": "x" * 20_000},
        ["'description'", "10,000 characters"],
    ),
    "empty name": ({**GOOD, "name": ""}, ["'name'", "letters, digits"]),
    "NUL in name": ({**GOOD, "name": "a\x00b"}, ["'name'", "control characters", "\\x00"]),
    "newline at the end of name": ({**GOOD, "name": "ab\n"}, ["'name'", "control characters"]),
    "long name": ({**GOOD, "name": "a" * 500}, ["'name'", "128 characters"]),
    "empty kind": ({**GOOD, "kind": ""}, ["'kind'", "letters, digits"]),
    "NUL in store": ({**GOOD, "store": "a\x00.zarr"}, ["'store'", "control characters"]),
    "empty store": ({**GOOD, "store": " "}, ["'store'", "empty"]),
    "huge store path": ({**GOOD, "store": "a" * 5000}, ["'store'", "4,096 characters"]),
    "store: /": ({**GOOD, "store": "/"}, ["'store'", "the root folder"]),
    "store: .": ({**GOOD, "store": "."}, ["'store'", "the spec's own folder"]),
    "store: ..": ({**GOOD, "store": ".."}, ["'store'", "contains the spec's own folder"]),
    "store: ~": ({**GOOD, "store": "~"}, ["'store'", "home folder"]),
    "NUL in generator": (_inputs(generator="ra\x00nge"), ["'inputs.generator'", "control"]),
    "n with a file": (
        {**GOOD, "inputs": {"file": "x.csv", "n": 3}},
        ["'inputs.n'", "only with 'inputs.generator'"],
    ),
    "NUL in file": ({**GOOD, "inputs": {"file": "a\x00.csv"}}, ["'inputs.file'", "control"]),
    "file of the wrong type": ({**GOOD, "inputs": {"file": "x.exe"}}, ["inputs file", ".csv"]),
    "date in params": (
        {**GOOD, "params": {"at": __import__("datetime").date(2020, 1, 1)}},
        [
            "'params.at'",
            "plain values",
        ],
    ),
    "number key in params": ({**GOOD, "params": {1: 2}}, ["'params'", "keys", "text"]),
    "nan in params": ({**GOOD, "params": {"x": float("nan")}}, ["'params.x'", "finite"]),
    "set in params": ({**GOOD, "params": {"x": {1, 2}}}, ["'params.x'", "plain values"]),
    "bad select range": (
        {**GOOD, "inputs": {"catalog": "c", "select": {"trace": 5}}},
        ["'inputs.select.trace'", "[low, high]"],
    ),
    "bad catalog name": ({**GOOD, "inputs": {"catalog": "../x"}}, ["'inputs.catalog'", "letters"]),
    "params a list": ({**GOOD, "params": [1, 2]}, ["'params'", "a mapping"]),
    "inputs a list": ({**GOOD, "inputs": [1]}, ["'inputs'", "a mapping"]),
    "spec a list": ([GOOD], ["a campaign spec must be a mapping"]),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_specs_are_one_fast_line_naming_the_key_and_the_limit(case, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    data, words = BAD_SPECS[case]
    base = tmp_path / "work" / "specs"
    base.mkdir(parents=True)
    start = time.perf_counter()
    with pytest.raises(SpecError) as info:
        parse_spec(data, source="s.yaml", base=base)
    assert time.perf_counter() - start < 0.5
    message = str(info.value)
    assert message.startswith("s.yaml: ") and len(message.splitlines()) == 1, message
    for word in words:
        assert word in message, message
    assert len(message) < 600, message


def test_a_good_spec_still_parses_and_hashes(tmp_path):
    spec = parse_spec(
        {**GOOD, "description": "two\nlines", "params": {"seconds": 0.0}}, base=tmp_path
    )
    assert spec.inputs.n == 10 and len(spec.spec_hash) == 64
    assert parse_spec(_inputs(n=spec_module.MAX_ITEMS, seed=2**32 - 1), base=tmp_path).inputs.n


def test_huge_shared_values_from_python_are_refused_fast(tmp_path, monkeypatch):
    import yaml

    bomb = yaml.safe_load(BOMB)["i"]  # 9**9 strings, shared: what yaml.safe_load gives
    start = time.perf_counter()
    with pytest.raises(SpecError, match=r"'params.x' holds more than 100,000 values \(MAX_NODES"):
        parse_spec({**GOOD, "params": {"x": bomb}}, base=tmp_path)
    with pytest.raises(SpecError, match=r"'description' key must be a text\. Got \[\["):
        parse_spec({**GOOD, "description": bomb}, base=tmp_path)
    deep: list = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(SpecError, match=r"'params.x' is nested deeper than 32 levels"):
        parse_spec({**GOOD, "params": {"x": deep}}, base=tmp_path)
    assert time.perf_counter() - start < 2.0


def test_a_bad_configured_default_is_named(tmp_path, monkeypatch):
    from vlab import config

    retries = r"'campaign.retries' in config.override must be from 0 to 100; got -3"
    with pytest.raises(ConfigError, match=retries), config.override({"campaign.retries": -3}):
        parse_spec(GOOD, base=tmp_path)  # refused by the configuration before any spec
    chunks = r"'\(configuration\) campaign.chunk_size' key must be an integer"
    with config.override({"campaign.chunk_size": [1, 2]}), pytest.raises(SpecError, match=chunks):
        parse_spec(GOOD, base=tmp_path)


def _write(path: Path, text: str | bytes) -> Path:
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


BAD_FILES = {
    "alias bomb": (BOMB, "more than 100,000 nodes with aliases expanded (MAX_NODES)"),
    "recursive alias": ("name: &a [*a]\n", "an alias refers to a node that contains it"),
    "deep nesting": ("name: " + "[" * 5000 + "]" * 5000, "nested deeper than 32 levels"),
    "NUL byte": (b"name: a\x00b\n", "is a binary file (it has NUL bytes)"),
    "not UTF-8": (b"name: \xff\xfe\n", "is not UTF-8 text"),
    "huge integer": (PROBE + "chunk_size: 1" + "0" * 5000 + "\n", "a value cannot be read"),
    "bad date": (PROBE + "description: 2001-13-45\n", "a value cannot be read"),
    "python tag": ("!!python/object/apply:os.system ['true']\n", "not valid YAML"),
    "control character": ("name: \x07\n", "not valid YAML: the character #x0007"),
    "a list": ("- 1\n- 2\n", "a campaign spec must be a mapping"),
    "empty": ("", "a campaign spec must be a mapping"),
    "date value": (PROBE + "description: 2001-01-01\n", "'description' key must be a text"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_hostile_spec_files_fail_fast_in_one_line(case, tmp_path):
    text, words = BAD_FILES[case]
    path = _write(tmp_path / "s.yaml", text)
    start = time.perf_counter()
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert time.perf_counter() - start < 2.0  # the alias bomb used to hang for minutes
    message = str(info.value)
    assert words in message and len(message.splitlines()) == 1, message
    assert str(path) in message


def test_a_spec_file_over_the_size_limit_is_not_read(tmp_path):
    path = _write(tmp_path / "s.yaml", PROBE + "#" * 1_100_000 + "\n")
    with pytest.raises(SpecError, match=r"has 1,1\d\d,\d\d\d bytes; at most 1,000,000 allowed"):
        load_spec(path)


def test_a_spec_path_that_is_a_folder_or_has_a_nul_byte(tmp_path):
    with pytest.raises(SpecError, match="is not a regular file; give a YAML spec file"):
        load_spec(tmp_path)
    with pytest.raises(SpecError, match="'/dev/null' is not a regular file"):
        load_spec("/dev/null")
    with pytest.raises(SpecError, match=r"'a\\x00b.yaml' not found"):
        load_spec("a\x00b.yaml")


INPUT_FILES = {
    "binary": ("x.csv", b"\x00\x01\x02", "is binary (NUL bytes)"),
    "not UTF-8": ("x.csv", b"a\n\xff\n", "is not UTF-8 text"),
    "short row": ("x.csv", "a,b\n1,2\n3\n", "line 3 has not as many cells as the header"),
    "long row": ("x.csv", "a,b\n1,2,3\n", "line 2 has not as many cells as the header"),
    "huge cell": ("x.csv", "a\n" + "x" * 200_000 + "\n", "is not valid CSV: field larger"),
    "bad JSON": ("x.json", "[{", "is not valid JSON"),
    "deep JSON": ("x.json", "[" * 100_000 + "]" * 100_000, "is not valid JSON"),
    "empty list": ("x.json", "[]", "must hold a non-empty list of items"),
    "not a list": ("x.yaml", "a: 1\n", "must hold a non-empty list of items"),
    "alias bomb": ("x.yaml", BOMB.replace("a: &a", "- &a").replace("\n", "\n- "), "not accepted"),
    "date item": ("x.yaml", "- {x: 2001-01-01}\n", "'item 0.x' must hold plain values"),
    "number key": ("x.yaml", "- {1: 2}\n", "the keys of 'item 0' must be text"),
}


@pytest.mark.parametrize("case", sorted(INPUT_FILES))
def test_bad_inputs_files_are_one_line_errors(case, tmp_path):
    name, text, words = INPUT_FILES[case]
    _write(tmp_path / name, text)
    with pytest.raises(SpecError) as info:
        spec = parse_spec({**GOOD, "inputs": {"file": name}}, source="s.yaml", base=tmp_path)
        make_items(spec, get_kind("engine-probe"), {})
    message = str(info.value)
    assert words in message and len(message.splitlines()) == 1, message
    assert message.startswith("s.yaml: ")


def test_inputs_files_over_the_size_limit_or_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(spec_module, "MAX_INPUT_FILE_BYTES", 10)
    _write(tmp_path / "x.csv", "a\n" + "1\n" * 20)
    with pytest.raises(SpecError, match=r"has 42 bytes; at most 10 \(MAX_INPUT_FILE_BYTES\)"):
        parse_spec({**GOOD, "inputs": {"file": "x.csv"}}, base=tmp_path)
    with pytest.raises(SpecError, match="nope.csv' does not exist or is not a file"):
        parse_spec({**GOOD, "inputs": {"file": "nope.csv"}}, base=tmp_path)
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(SpecError, match="d.csv' does not exist or is not a file"):
        parse_spec({**GOOD, "inputs": {"file": "d.csv"}}, base=tmp_path)


# --- SMILES ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("smiles", "words"),
    [
        ("*" + "C" * 20_000 + "*", "at most 2,000 (MAX_SMILES_LENGTH)"),  # segfaulted RDKit
        ("*" + "C" * (MAX_HEAVY_ATOMS + 1) + "*", "1,001 heavy atoms; at most 1,000"),
        ("*CC\x00*", "the control character '\\x00'"),
        ("*CC*\n*CC*", "the control character '\\n'"),
        ("", "it is empty"),
    ],
)
def test_hostile_smiles_are_refused_before_rdkit_can_crash(smiles, words):
    start = time.perf_counter()
    with pytest.raises(InvalidSMILESError) as info:
        canonical_repeat_unit(smiles)
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert words in message and len(message.splitlines()) == 1 and len(message) < 600
    with pytest.raises(InvalidSMILESError, match="is not accepted"):
        parse_smiles(smiles.replace("*", "") or "")


def test_smiles_at_the_limits_still_work():
    assert canonical_repeat_unit("*" + "C" * MAX_HEAVY_ATOMS + "*").count("C") == MAX_HEAVY_ATOMS
    assert parse_smiles("c1ccccc1O").GetNumAtoms() == 7


# --- the command line ------------------------------------------------------------------------

CLI_CASES = {
    "alias bomb": BOMB,
    "huge n": PROBE.replace("n: 5", "n: 1000000000000"),
    "huge chunk_size": PROBE + "chunk_size: 1000000000000\n",
    "seed -1": PROBE.replace("n: 5", "n: 5, seed: -1"),
    "store /": PROBE.replace("store: p.zarr", "store: /"),
    "NUL byte": PROBE.replace("name: p", "name: p\x00"),
    "deep nesting": "name: " + "[" * 10_000,
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_vlab_run_refuses_hostile_specs_with_exit_2_and_one_line(case, tmp_path):
    spec = _write(tmp_path / "s.yaml", CLI_CASES[case])
    env = {**os.environ, "VLAB_CATALOG__INDEX_DIR": str(tmp_path / "index")}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "vlab.cli", "run", str(spec), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vlab: error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert time.perf_counter() - start < 30
    assert not (tmp_path / "p.zarr").exists()


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "no space left on the device holding '/data/x.zarr'"),
        (errno.EROFS, "the file system holding '/data/x.zarr' is read-only"),
        (errno.EACCES, "permission denied for '/data/x.zarr'"),
        (errno.EIO, "input/output error on '/data/x.zarr'"),
        (errno.EEXIST, "'/data/x.zarr' already exists, where a new folder or file was to be made"),
        (errno.ETIMEDOUT, "Connection timed out ('/data/x.zarr')"),
    ],
)
def test_disk_trouble_is_one_line_and_exit_1(code, words, monkeypatch, capsys, tmp_path):
    def fail(args):
        raise OSError(code, os.strerror(code), "/data/x.zarr")

    monkeypatch.setattr("vlab.cli.campaign._cmd_run", fail)
    assert main(["run", str(tmp_path / "s.yaml")]) == 1
    err = capsys.readouterr().err
    assert err == f"vlab: error: {words}\n"
    with pytest.raises(OSError):
        main(["--debug", "run", str(tmp_path / "s.yaml")])


def test_out_of_memory_is_one_line(monkeypatch, capsys, tmp_path):
    def fail(args):
        raise MemoryError

    monkeypatch.setattr("vlab.cli.campaign._cmd_run", fail)
    assert main(["run", str(tmp_path / "s.yaml")]) == 1
    assert capsys.readouterr().err.strip() == (
        "vlab: error: out of memory; use smaller inputs or more memory"
    )


def test_a_closed_dask_connection_is_named_as_such_not_as_a_file(monkeypatch, capsys, tmp_path):
    from distributed.comm.core import CommClosedError

    def fail(args):
        raise CommClosedError("ConnectionPool closing.")

    monkeypatch.setattr("vlab.cli.campaign._cmd_run", fail)
    assert main(["run", str(tmp_path / "s.yaml")]) == 1
    assert capsys.readouterr().err == (
        "vlab: error: Lost the connection to the Dask cluster (CommClosedError: ConnectionPool "
        "closing.). Run the same command again once the scheduler is reachable; campaigns "
        "resume where they stopped.\n"
    )


def test_multi_line_messages_are_printed_on_one_line(monkeypatch, capsys, tmp_path):
    def fail(args):
        raise SpecError("first\nsecond\x00")

    monkeypatch.setattr("vlab.cli.campaign._cmd_run", fail)
    assert main(["run", str(tmp_path / "s.yaml")]) == 2
    assert capsys.readouterr().err == "vlab: error: first\\nsecond\\x00\n"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["transfer", "--splits", "0"], "--splits must be an integer from 1 to 100. Got '0'."),
        (["transfer", "--draws", "-1"], "--draws must be an integer from 1 to 1,000. Got '-1'."),
        (["transfer", "--seed", "-1"], "--seed must be an integer from 0 to 4,294,967,295."),
        (["design", "--seed", "99999999999"], "--seed must be an integer from 0 to 4,294,967,295"),
        (["design", "--n", "0"], "--n must be an integer >= 1. Got '0'."),
    ],
)
def test_polymer_commands_refuse_bad_numbers_before_any_work(argv, words, capsys):
    with pytest.raises(SystemExit) as info:
        main(["polymers", *argv])
    assert info.value.code == 2 and words in capsys.readouterr().err


MD = {
    "name": "md",
    "kind": "break-junction-md",
    "store": "md.zarr",
    "inputs": {"generator": "traces", "n": 2, "seed": 1},
}
CHAINS = {
    "name": "d",
    "kind": "polymer-design",
    "store": "d.zarr",
    "inputs": {"generator": "chains", "n": 2},
}
# (spec, inputs.params, words of the one-line error): a generator's parameters are checked
# before any work, so that a typo does not run other physics with the defaults
BAD_GENERATOR_PARAMS = {
    "probe typo": (
        GOOD,
        {"offst": 5},
        ["unknown 'inputs.params' 'offst' of the generator 'range' of kind 'engine-probe'",
         "it takes: offset, repeat.", "Did you mean 'offset'?"],
    ),
    "probe float": (GOOD, {"offset": 2.7}, ["inputs.params.offset must be an integer. Got 2.7."]),
    "probe text": (GOOD, {"offset": "abc"}, ["inputs.params.offset must be an integer"]),
    "probe repeat 0": (GOOD, {"repeat": 0}, ["inputs.params.repeat must be an integer >= 1"]),
    "md typo": (
        MD,
        {"temperature": [4.0]},
        ["unknown 'inputs.params' 'temperature' of the generator 'traces'",
         "it takes: temperatures.", "Did you mean 'temperatures'?"],
    ),
    "md scalar": (MD, {"temperatures": 4.0}, ["inputs.params.temperatures must be a list", "4.0"]),
    "chains": (CHAINS, {"n_chains": 3}, ["of the generator 'chains'", "it takes: none."]),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_GENERATOR_PARAMS))
def test_generator_parameters_are_checked_before_any_work(case, tmp_path):
    data, given, words = BAD_GENERATOR_PARAMS[case]
    spec = parse_spec(
        {**data, "inputs": {**data["inputs"], "params": given}}, source="s.yaml", base=tmp_path
    )
    kind = get_kind(spec.kind)
    params = kind.check_params(dict(spec.params))
    with pytest.raises(SpecError) as info:
        make_items(spec, kind, params)
    message = str(info.value)
    assert message.startswith("s.yaml: ") and len(message.splitlines()) == 1, message
    for word in words:
        assert word in message, message


def test_csv_columns_keep_one_type_and_labels_keep_their_meaning(tmp_path):
    """A column is numbers only if every cell is a plain ASCII number; otherwise every cell
    stays the text as written (sample labels like 001 or 1_2, mixed columns)."""
    (tmp_path / "in.csv").write_text(
        "x,label,f,mixed\n1,001,1.5,abc\n2,1_2,2,2\n3,1e3,-3e-2,x\n4, 7 ,4,\u0663\n"
    )
    spec = parse_spec({**GOOD, "inputs": {"file": "in.csv"}}, source="s.yaml", base=tmp_path)
    kind = get_kind(spec.kind)
    items = make_items(spec, kind, kind.check_params({}))
    assert [it["x"] for it in items] == [1, 2, 3, 4]
    assert [it["label"] for it in items] == ["001", "1_2", "1e3", " 7 "]
    assert [it["f"] for it in items] == [1.5, 2.0, -0.03, 4.0]
    assert [it["mixed"] for it in items] == ["abc", "2", "x", "\u0663"]


def test_items_without_the_fields_their_kind_needs_are_refused_before_any_work(tmp_path):
    (tmp_path / "in.csv").write_text("SMILES\n*CC*\n")
    data = {"name": "p", "kind": "polymer-predict", "store": "p.zarr", "inputs": {"file": "in.csv"}}
    spec = parse_spec(data, source="s.yaml", base=tmp_path)
    kind = get_kind(spec.kind)
    with pytest.raises(SpecError) as info:
        make_items(spec, kind, kind.check_params({}))
    assert str(info.value) == (
        "s.yaml: item 0 has no 'smiles' field, which kind 'polymer-predict' needs (its fields: "
        "SMILES). Did you mean 'SMILES'?"
    )
