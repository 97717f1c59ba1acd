"""datasets/prepare_*.py against hostile, broken or absent sources: a name from the data never
leaves --out, downloads are bounded and only ever complete under their final name, a failed one is
one line pointing at --from, and the TCN release's 50Salads layout (one folder deeper, Split_K.mat)
is read and listed."""

from __future__ import annotations

import functools
import gzip
import http.server
import importlib.util
import os
import socket
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from seq2seq.translation import multi30k

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO / "datasets"


@functools.cache
def script(name: str):
    """datasets/NAME.py loaded as a module (its main(argv) runs in this process)."""
    spec = importlib.util.spec_from_file_location(f"_test_{name}", DATASETS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def common():
    """The bounded downloads and name checks every preparation shares."""
    import seq2seq.download

    return seq2seq.download


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(DATASETS / f"{name}.py"), *args], capture_output=True, text=True, env=env, timeout=120
    )


def one_error_line(err: str, prog: str, *parts: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), lines
    for part in parts:
        assert part in lines[0], (part, lines[0])
    return lines[0]


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


# -- a small fake TCN release ------------------------------------------------------------------


def cells(arrays) -> np.ndarray:
    out = np.empty((1, len(arrays)), dtype=object)
    for i, a in enumerate(arrays):
        out[0, i] = a
    return out


def fake_release(
    root: Path, splits: dict[int, list[str]], dataset: str = "GTEA", model: str = "video_SVM",
    mat_name: str = "{k}.mat", classes: int = 4, frames: int = 30, seed: int = 0,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    """predictions/DATASET/MODEL/<mat_name> (Y, S, P cell arrays, as in the GTEA files) and
    splits/DATASET/Split_K/test.txt for each split; returns name -> (labels, scores (T, C))."""
    rng = np.random.default_rng(seed)
    videos = {}
    for k, names in splits.items():
        ys, ss = [], []
        for name in names:
            y = rng.integers(0, classes, size=(1, frames))
            y[0, :classes] = np.arange(classes)  # every class occurs
            ys.append(y)
            ss.append(rng.standard_normal((frames, classes)))
            videos[name] = (y.ravel(), ss[-1])
        mat = root / "predictions" / dataset / model / mat_name.format(k=k)
        mat.parent.mkdir(parents=True, exist_ok=True)
        savemat(mat, {"Y": cells(ys), "S": cells(ss), "P": cells(ys)})
        listed = root / "splits" / dataset / f"Split_{k}" / "test.txt"
        listed.parent.mkdir(parents=True, exist_ok=True)
        listed.write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
    return videos


def check_layout(out: Path, splits: dict[int, list[str]], videos) -> None:
    for k, names in splits.items():
        assert (out / "splits" / f"test.split{k}.bundle").read_text().split() == names
        others = [n for j, ns in splits.items() if j != k for n in ns]
        assert (out / "splits" / f"train.split{k}.bundle").read_text().split() == others
    mapping = (out / "mapping.txt").read_text().splitlines()
    assert mapping[0] == "0 background"
    for name, (y, s) in videos.items():
        np.testing.assert_allclose(np.load(out / "features" / f"{name}.npy"), s.T.astype(np.float32))
        labels = (out / "groundTruth" / f"{name}.txt").read_text().split()
        assert labels == [mapping[c].split()[1] for c in y]


# -- a local HTTP server ------------------------------------------------------------------------


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the server's folder; /nolength/PATH without a Content-Length, /short/PATH cut off
    half-way through, /error/PATH answers 500."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        mode, _, rest = self.path.lstrip("/").partition("/")
        if mode == "error":
            self.send_error(500, "broken on purpose")
            return
        if mode in ("nolength", "short"):
            path = Path(self.directory) / urllib.parse.unquote(rest)
            if not path.is_file():
                self.send_error(404)
                return
            data = path.read_bytes()
            self.send_response(200)
            if mode == "short":
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data if mode == "nolength" else data[: len(data) // 2])
            return
        super().do_GET()


@pytest.fixture
def served(tmp_path):
    """(base URL, folder it serves)."""
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_port():
    """A local port that accepts connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


# -- 1. names from the data are plain file names ---------------------------------------------------


def test_gtea_refuses_a_split_list_name_that_leaves_out(tmp_path):
    release = tmp_path / "release"
    fake_release(release, {1: ["S1_Coffee_C1", "../../escaped"], 2: ["S2_Tea_C1"]})
    out = tmp_path / "deep" / "er" / "out"
    before = files_under(tmp_path)
    done = run_script("prepare_gtea_tcn", "--from", str(release), "--out", str(out))
    assert done.returncode == 2, done.stderr
    one_error_line(done.stderr, "prepare_gtea_tcn", "Split_1/test.txt", "'../../escaped'")
    assert "Traceback" not in done.stderr
    assert files_under(tmp_path) == before  # nothing written, inside --out or out of it
    assert not list(tmp_path.rglob("escaped*"))


@pytest.mark.parametrize("bad", ["..", ".", "-rf", "/tmp/abs", "sub/dir", "a\\b", "nul\x00byte", "C:drive", "..\\up"])
def test_gtea_refuses_every_kind_of_non_plain_name(tmp_path, capsys, bad):
    release = tmp_path / "release"
    fake_release(release, {1: ["ok_video", bad]})
    out = tmp_path / "out"
    assert script("prepare_gtea_tcn").main(["--from", str(release), "--out", str(out)]) == 2
    one_error_line(capsys.readouterr().err, "prepare_gtea_tcn", "test.txt", repr(bad))
    assert not out.exists()


def test_plain_names_of_the_real_releases_pass():
    plain = common().plain_name
    for name in ["S1_Coffee_C1", "rgb-01-1", "06-1", "JSB Chorales.pickle", "Piano-midi.de.pickle", "a..b"]:
        assert plain(name, "list.txt") == name
    with pytest.raises(common().PrepareError, match=r"list\.txt: refusing the name ''"):
        plain("", "list.txt")


@pytest.mark.parametrize("last", ["%2E%2E", "..%2Fescaped.pickle", "-x.pickle"])
def test_polyphonic_refuses_a_url_file_name_that_is_not_plain(tmp_path, capsys, closed_port, last):
    url = f"http://127.0.0.1:{closed_port}/data/{last}"
    assert script("prepare_polyphonic").main(["--from", url, "--out", str(tmp_path / "out")]) == 2
    one_error_line(capsys.readouterr().err, "prepare_polyphonic", url, repr(urllib.parse.unquote(last)))
    assert not (tmp_path / "out").exists()


# -- 2. downloads: bounded, atomic --------------------------------------------------------------


@pytest.mark.parametrize("mode", ["", "nolength/"])
def test_download_stops_at_the_limit_and_keeps_nothing(served, tmp_path, mode):
    base, root = served
    (root / "big.bin").write_bytes(os.urandom(50_000))
    cache = tmp_path / "cache"
    url = f"{base}/{mode}big.bin"
    with pytest.raises(common().PrepareError) as e:
        common().download(url, cache / "big.bin", limit=10_000, hint="HINT")
    message = str(e.value)
    assert "\n" not in message and url in message and "10,000" in message and message.endswith("HINT")
    assert not list(cache.iterdir())  # no partial file, under the final name or a temporary one


def test_a_truncated_download_keeps_nothing(served, tmp_path):
    base, root = served
    (root / "f.bin").write_bytes(os.urandom(20_000))
    cache = tmp_path / "cache"
    with pytest.raises(common().PrepareError, match="closed after 10,000 of the 20,000 bytes"):
        common().download(f"{base}/short/f.bin", cache / "f.bin", limit=1 << 20, hint="HINT")
    assert not list(cache.iterdir())


def test_a_download_gets_its_final_name_only_when_complete(served, tmp_path, monkeypatch):
    base, root = served
    data = os.urandom(300_000)
    (root / "f.bin").write_bytes(data)
    target = tmp_path / "cache" / "f.bin"
    renames = []
    real_replace = os.replace

    def replace(src, dst):
        assert not Path(dst).exists() and Path(src).read_bytes() == data
        assert Path(src).parent == Path(dst).parent and Path(src).name != Path(dst).name
        renames.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(common().os, "replace", replace)
    assert common().download(f"{base}/f.bin", target, limit=len(data), hint="") == target
    assert target.read_bytes() == data and renames == [target]
    assert list(target.parent.iterdir()) == [target]


def test_gtea_download_limit(served, tmp_path, capsys, monkeypatch):
    base, root = served
    fake_release(root / "release", {1: ["a"], 2: ["b"]})
    monkeypatch.setattr(script("prepare_gtea_tcn"), "MAX_DOWNLOAD_BYTES", 500)
    out = tmp_path / "out"
    assert script("prepare_gtea_tcn").main(["--from", f"{base}/release", "--out", str(out)]) == 2
    one_error_line(capsys.readouterr().err, "prepare_gtea_tcn", "video_SVM/1.mat", "500", "--from")
    assert not out.exists()


def test_gtea_from_a_url_matches_the_local_folder(served, tmp_path, capsys):
    base, root = served
    splits = {1: ["a", "b"], 2: ["c"], 3: ["d", "e"]}
    videos = fake_release(root / "release", splits)
    gtea = script("prepare_gtea_tcn")
    assert gtea.main(["--from", str(root / "release"), "--out", str(tmp_path / "local")]) == 0
    local_out = capsys.readouterr().out
    assert gtea.main(["--from", f"{base}/release", "--out", str(tmp_path / "url")]) == 0
    assert capsys.readouterr().out == local_out.replace(str(tmp_path / "local"), str(tmp_path / "url"))
    check_layout(tmp_path / "url", splits, videos)
    local = {p.relative_to(tmp_path / "local"): p.read_bytes() for p in files_under(tmp_path / "local")}
    assert {p.relative_to(tmp_path / "url"): p.read_bytes() for p in files_under(tmp_path / "url")} == local


def multi30k_folder(root: Path, lines: int = 3) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for split in ("train", "val", "test_2016_flickr"):
        for lang in ("en", "de"):
            text = "".join(f"{split} {lang} sentence {i} {os.urandom(8).hex()}\n" for i in range(lines))
            (root / f"{split}.{lang}.gz").write_bytes(gzip.compress(text.encode()))


def test_multi30k_download_limit(served, tmp_path, capsys, monkeypatch):
    base, root = served
    multi30k_folder(root / "m30k", lines=50)
    monkeypatch.setattr(multi30k, "MAX_DOWNLOAD_BYTES", 200)
    out = tmp_path / "out"
    assert script("prepare_multi30k").main(["--from", f"{base}/m30k", "--out", str(out)]) == 2
    one_error_line(capsys.readouterr().err, "prepare_multi30k", "train.en.gz", "200", "--from")
    assert not list(out.iterdir())


def test_multi30k_refuses_a_gzip_bomb(served, tmp_path, capsys, monkeypatch):
    base, root = served
    multi30k_folder(root / "m30k")
    (root / "m30k" / "train.en.gz").write_bytes(gzip.compress(b"\n" * 2_000_000))
    monkeypatch.setattr(multi30k, "MAX_TEXT_BYTES", 100_000)
    assert script("prepare_multi30k").main(["--from", f"{base}/m30k", "--out", str(tmp_path / "out")]) == 2
    one_error_line(capsys.readouterr().err, "prepare_multi30k", "train.en.gz", "unpacks to more than 100,000")


def test_multi30k_from_a_url_matches_the_local_folder(served, tmp_path, capsys):
    base, root = served
    multi30k_folder(root / "m30k")
    m30k = script("prepare_multi30k")
    assert m30k.main(["--from", str(root / "m30k"), "--out", str(tmp_path / "local")]) == 0
    assert m30k.main(["--from", f"{base}/m30k/", "--out", str(tmp_path / "url")]) == 0
    captured = capsys.readouterr()
    assert f"downloading {base}/m30k/train.en.gz" in captured.out
    assert "Traceback" not in captured.err
    for f in (tmp_path / "local").iterdir():
        assert gzip.decompress((tmp_path / "url" / f.name).read_bytes()) == gzip.decompress(f.read_bytes())
    assert multi30k.source_url(multi30k.PUBLIC, "val.de") == multi30k.RAW_URL.format(name="val.de")


def jsb_mat(path: Path) -> None:
    rng = np.random.default_rng(1)
    rolls = {
        key: cells([(rng.random((t, 88)) < 0.05).astype(np.uint8) for t in (20, 30)])
        for key in ("traindata", "validdata", "testdata")
    }
    savemat(path, rolls)


def test_polyphonic_download_limit(served, tmp_path, capsys, monkeypatch):
    base, root = served
    jsb_mat(root / "JSB_Chorales.mat")
    poly = script("prepare_polyphonic")
    monkeypatch.setattr(poly, "MAX_DOWNLOAD_BYTES", 1000)
    for mode in ("", "nolength/"):
        url = f"{base}/{mode}JSB_Chorales.mat"
        assert poly.main(["--from", url, "--out", str(tmp_path / "out")]) == 2
        one_error_line(capsys.readouterr().err, "prepare_polyphonic", url, "1,000", "--from")
        assert not (tmp_path / "out").exists()
    monkeypatch.setattr(poly, "MAX_DOWNLOAD_BYTES", 1 << 20)
    assert poly.main(["--from", f"{base}/JSB_Chorales.mat", "--out", str(tmp_path / "out")]) == 0
    got = loadmat(tmp_path / "out" / "JSB_Chorales.mat")
    want = loadmat(root / "JSB_Chorales.mat")
    np.testing.assert_array_equal(got["validdata"][0][1], want["validdata"][0][1])


# -- 3. no network: one line that points at --from --------------------------------------------------


def test_gtea_offline_is_one_line_naming_the_url_and_from(tmp_path, closed_port):
    url = f"http://127.0.0.1:{closed_port}/tcn"
    done = run_script("prepare_gtea_tcn", "--from", url, "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    one_error_line(done.stderr, "prepare_gtea_tcn", f"{url}/predictions/GTEA/video_SVM/1.mat", "--from FOLDER")
    assert "splits/GTEA/Split_K/test.txt" in done.stderr and not (tmp_path / "out").exists()


def test_multi30k_offline_is_one_line_naming_the_url_and_from(tmp_path, closed_port):
    url = f"http://127.0.0.1:{closed_port}/m30k"
    done = run_script("prepare_multi30k", "--from", url, "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    one_error_line(done.stderr, "prepare_multi30k", f"{url}/train.en.gz", "--from FOLDER", "train,val")


def test_polyphonic_offline_is_one_line_naming_the_url_and_from(tmp_path, closed_port):
    url = f"http://127.0.0.1:{closed_port}/JSB%20Chorales.pickle"
    done = run_script("prepare_polyphonic", "--from", url, "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    one_error_line(done.stderr, "prepare_polyphonic", url, "--from FILE")


@pytest.mark.parametrize(
    "name, fetched",
    [
        ("prepare_gtea_tcn", "/predictions/GTEA/video_SVM/1.mat"),
        ("prepare_multi30k", "/train.en.gz"),
        ("prepare_polyphonic", "/x.pickle"),
    ],
)
def test_a_server_that_never_answers_times_out_in_one_line(tmp_path, capsys, monkeypatch, silent_port, name, fetched):
    module = script(name)
    monkeypatch.setattr(multi30k if name == "prepare_multi30k" else module, "TIMEOUT_S", 0.3)
    base = f"http://127.0.0.1:{silent_port}"
    source = f"{base}/x.pickle" if name == "prepare_polyphonic" else base
    assert module.main(["--from", source, "--out", str(tmp_path / "out")]) == 2
    one_error_line(capsys.readouterr().err, name, base + fetched, "no answer within 0.3 s", "--from")


@pytest.mark.parametrize("name", ["prepare_gtea_tcn", "prepare_multi30k", "prepare_polyphonic"])
def test_an_http_error_is_one_line(served, tmp_path, capsys, name):
    base, _ = served
    source = f"{base}/error/x.pickle" if name == "prepare_polyphonic" else f"{base}/error"
    assert script(name).main(["--from", source, "--out", str(tmp_path / "out")]) == 2
    one_error_line(capsys.readouterr().err, name, f"{base}/error/", "HTTP 500", "--from")


def m30k_recipe(tmp_path: Path, *settings: str) -> list[str]:
    """Overrides of the Multi30k en->de recipe with its files under tmp_path/data."""
    files = {"train": "train", "valid": "val", "test": "test_2016_flickr"}
    paths = [f"data.{k}_{side}={tmp_path / 'data' / f'{name}.{lang}.gz'}"
             for k, name in files.items() for side, lang in (("src", "en"), ("tgt", "de"))]  # fmt: skip
    return [*paths, f"train.out_dir={tmp_path / 'run'}", *settings]


@pytest.mark.parametrize("where", ["folder", "url"])
def test_train_prepares_missing_multi30k_files_itself(served, tmp_path, where):
    """A recipe with data.fetch = "multi30k" whose files are missing prepares them (from a local
    folder or a URL) before it reads them: the task then reads the source's sentences."""
    from seq2seq.registry import load_config, make_task

    base, root = served
    multi30k_folder(root / "m30k", lines=12)
    source = str(root / "m30k") if where == "folder" else f"{base}/m30k"
    cfg = load_config("translation/multi30k_en_de", m30k_recipe(tmp_path, f"data.source={source}"))
    src, tgt = make_task(cfg).split_text("valid")
    expected = gzip.decompress((root / "m30k" / "val.de.gz").read_bytes()).decode().splitlines()
    assert tgt == expected and len(src) == 12
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == sorted(f.name for f in (root / "m30k").iterdir())


def test_train_offline_says_in_one_line_where_to_put_multi30k(tmp_path, closed_port):
    url = f"http://127.0.0.1:{closed_port}/m30k"
    done = subprocess.run(
        [sys.executable, "-m", "seq2seq", "train", "recipes/translation/multi30k_en_de.toml",
         *[a for o in m30k_recipe(tmp_path, f"data.source={url}") for a in ("--set", o)]],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    one_error_line(done.stderr, "seq2seq", f"{url}/train.en.gz", "data.source=FOLDER")
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").glob("*.pt"))


@pytest.mark.parametrize(
    "setting, message",
    [
        ("data.train_src=elsewhere/train.en.gz", "more than one folder"),
        ("data.valid_src=VALID.en", "data.valid_src = "),
    ],
)
def test_fetch_multi30k_needs_its_own_file_names(tmp_path, setting, message):
    from seq2seq.config import ConfigError
    from seq2seq.registry import load_config

    with pytest.raises(ConfigError, match=message):
        load_config("translation/multi30k_en_de", [*m30k_recipe(tmp_path), setting])


def test_a_source_without_fetch_is_refused(tmp_path):
    from seq2seq.config import ConfigError
    from seq2seq.registry import load_config

    with pytest.raises(ConfigError, match="data.source is read only with data.fetch"):
        load_config("translation/multi30k_en_de", [*m30k_recipe(tmp_path), "data.fetch=none", "data.source=x"])


def test_gtea_from_a_url_that_has_nothing(served, tmp_path, capsys):
    base, _ = served
    assert script("prepare_gtea_tcn").main(["--from", f"{base}/nothing", "--out", str(tmp_path / "out")]) == 2
    one_error_line(capsys.readouterr().err, "prepare_gtea_tcn", "no predictions/GTEA/video_SVM/K.mat")


# -- 4. 50Salads: one folder deeper, Split_K.mat; --list ----------------------------------------


def salads_release(root: Path) -> tuple[dict, dict]:
    splits = {1: ["rgb-01-1", "rgb-01-2"], 2: ["rgb-02-1"], 3: ["rgb-03-1", "rgb-03-2"]}
    videos = fake_release(root, splits, "50Salads", "mid/mid_video_SVM", "Split_{k}.mat", classes=6, seed=3)
    fake_release(root, {1: splits[1], 2: splits[2]}, "50Salads", "mid/mid_video_ED-TCN_L2_C15", classes=6)
    fake_release(root, {1: splits[1]}, "50Salads", "eval/eval_video_SVM", classes=3)
    fake_release(root, {1: ["S1_Tea_C1"], 2: ["S2_Tea_C1"]}, "GTEA", "video_SVM")
    (root / "splits" / "GTEA" / "Split_4").mkdir()
    (root / "splits" / "GTEA" / "Split_4" / "test.txt").write_text("S4_Tea_C1\n")
    return splits, videos


@pytest.mark.parametrize("model", ["mid/mid_video_SVM", "mid_video_SVM"])
def test_gtea_script_reads_50salads(tmp_path, capsys, model):
    splits, videos = salads_release(tmp_path / "release")
    out = tmp_path / "out"
    args = ["--from", str(tmp_path / "release"), "--dataset", "50Salads", "--model", model, "--out", str(out)]
    assert script("prepare_gtea_tcn").main(args) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"5 videos, 6 classes, 3 folds -> {out}"
    check_layout(out, splits, videos)


def test_gtea_script_reads_50salads_from_a_url(served, tmp_path, capsys):
    base, root = served
    splits, videos = salads_release(root / "release")
    args = ["--from", f"{base}/release", "--dataset", "50Salads", "--model", "mid_video_SVM"]
    assert script("prepare_gtea_tcn").main([*args, "--out", str(tmp_path / "out")]) == 0
    check_layout(tmp_path / "out", splits, videos)


def test_list_shows_the_datasets_and_models(tmp_path):
    salads_release(tmp_path / "release")
    done = run_script("prepare_gtea_tcn", "--from", str(tmp_path / "release"), "--list")
    assert done.returncode == 0, done.stderr
    lines = [" ".join(line.split()) for line in done.stdout.splitlines()]
    assert lines == [
        "50Salads: split lists splits/50Salads/Split_K/test.txt for K = 1, 2, 3",
        "--model eval/eval_video_SVM K.mat folds 1",
        "--model mid/mid_video_ED-TCN_L2_C15 K.mat folds 1, 2",
        "--model mid/mid_video_SVM Split_K.mat folds 1, 2, 3",
        "GTEA: split lists splits/GTEA/Split_K/test.txt for K = 1, 2, 4",
        "--model video_SVM K.mat folds 1, 2",
        f"prepare one with: --from {tmp_path / 'release'} --dataset DATASET --model MODEL --out OUT",
    ]


def test_list_of_the_shared_gtea_release(shared_data, capsys):
    release = shared_data / "gtea-tcn"
    if not release.is_dir():
        pytest.skip("gtea-tcn not in the shared data")
    assert script("prepare_gtea_tcn").main(["--from", str(release), "--list"]) == 0
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert "--model video_SVM K.mat folds 1, 2, 3" in lines
    assert "--model video_tCNN_C30 K.mat folds 2" in lines


def test_list_needs_a_local_folder(capsys):
    gtea = script("prepare_gtea_tcn")
    assert gtea.main(["--list"]) == 2
    one_error_line(capsys.readouterr().err, "prepare_gtea_tcn", gtea.DEFAULT_URL, "--from FOLDER")


def test_an_ambiguous_short_model_name_is_refused(tmp_path, capsys):
    salads_release(tmp_path / "release")
    fake_release(tmp_path / "release", {1: ["rgb-01-1"]}, "50Salads", "eval/mid_video_SVM")
    args = ["--from", str(tmp_path / "release"), "--dataset", "50Salads", "--model", "mid_video_SVM"]
    assert script("prepare_gtea_tcn").main([*args, "--out", str(tmp_path / "out")]) == 2
    one_error_line(capsys.readouterr().err, "prepare_gtea_tcn", "eval/mid_video_SVM, mid/mid_video_SVM")
