"""bench/quality.py's report from recorded runs (no training here)."""
import quality


def _seed(fids, steps_per_s=50.0):
    curve = [{"step": 100 * (i + 1), "fid": f, "raw_fid": f + 5} for i, f in enumerate(fids)]
    return {"steps": 100 * len(fids), "train_minutes": 1.0, "steps_per_s": steps_per_s,
            "curve": curve, "final": {"fid": fids[-1], "is": 9.0, "modes": 10, "confident": 0.9,
                                      "histogram": [10] * 10},
            "parzen": {"mean": 230.0, "stderr": 2.0},
            "to": {str(t): quality._first_at_or_below(curve, "fid", t, steps_per_s)
                   for t in quality.TARGETS}}


def test_steps_to_target_and_table():
    """Steps to each FID target per seed (a seed that misses one counts as such), the images D
    had seen by FID <= 15 (steps x batch x k from the recipe's flags), CPU minutes."""
    s0, s1 = _seed([80, 40, 25, 14, 9, 4.5]), _seed([70, 29, 20, 15, 12, 11])
    assert s0["to"]["30.0"]["step"] == 300 and s0["to"]["15.0"]["step"] == 400
    assert s1["to"]["30.0"]["step"] == 200 and s1["to"]["10.0"] is None
    md = quality.table([{"name": "r", "seeds": {"0": s0, "1": s1}, "alone_steps_per_s": 50.0,
                         "flags": ["--batch-size", "128", "--k", "1", "--lr", "1e-4"]}])
    head, row = md.splitlines()[0].split("|"), md.splitlines()[2].split("|")
    assert [h.strip() for h in head[9:14]] == ["steps to FID ≤ 30", "steps to FID ≤ 15",
                                                "steps to FID ≤ 10", "steps to FID ≤ 5",
                                                "images to FID ≤ 15 (M)"]
    assert row[1].strip() == "r" and row[2].strip() == "2"
    assert row[3].strip() == "7.75 ± 4.60"                      # FID mean ± sd over seeds
    assert row[9].strip() == "250 ± 71" and row[10].strip() == "400 ± 0"
    assert row[11].strip() == "1/2 seeds" and row[12].strip() == "1/2 seeds"
    assert row[13].strip() == "0.05 ± 0.00"                     # 400 steps x 128 images
    assert row[14].strip() == "0.2 ± 0.0"                        # 600 steps / 50 per s / 60


def test_images_per_step_reads_batch_and_k():
    from fastgan.config import TrainConfig
    default = TrainConfig()
    assert quality.images_per_step([]) == default.batch_size * default.k
    assert quality.images_per_step(["--k", "2", "--batch-size", "256"]) == 512


def test_failed_seed_is_reported():
    md = quality.table([{"name": "x", "seeds": {"0": {"failed": "stopped at step 9: saturated"}}}])
    assert "stopped at step 9" in md


def test_extended_run_counts_both_legs(tmp_path):
    """A run continued with --extend: its training time is the first leg's plus the second's,
    and its curve holds every evaluation of both (the resumed run appends to metrics.jsonl)."""
    import json
    (tmp_path / "base_summary.json").write_text(json.dumps({"steps": 200, "train_s": 60.0}))
    (tmp_path / "summary.json").write_text(json.dumps(
        {"steps": 400, "train_s": 20.0, "steps_per_s": 10.0, "samples": "s.png"}))
    recs = [{"step": 100 * (i + 1), "fid": f, "is": 9.0, "modes": 10, "confident": 0.9,
             "histogram": [1] * 10} for i, f in enumerate([50, 20, 14, 12])]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    rec = quality.collect(tmp_path, {"mean": 240.0, "stderr": 2.0}, None)
    assert rec["train_minutes"] == 80.0 / 60 and rec["steps_per_s"] == 400 / 80.0
    assert [c["step"] for c in rec["curve"]] == [100, 200, 300, 400]
    assert rec["to"]["15.0"] == {"step": 300, "minutes": 300 / 5.0 / 60}


def test_report_fills_the_readme_block(tmp_path, monkeypatch):
    """`report --readme README.md`: the table lands between the markers, the rest stays."""
    import json
    results = tmp_path / "bench" / "results" / "quality"
    results.mkdir(parents=True)
    (results / "r.json").write_text(json.dumps({"name": "r", "seeds": {"0": _seed([40, 14])}}))
    readme = tmp_path / "README.md"
    readme.write_text("top\n<!-- quality:start -->\nold\n<!-- quality:end -->\nbottom\n")
    monkeypatch.setattr(quality, "RESULTS", results)
    quality.main(["report", "--readme", str(readme)])
    text = readme.read_text()
    assert text.startswith("top\n<!-- quality:start -->\n| recipe |") and "old" not in text
    assert "\n| r | 1 | 14.00 |" in text and text.endswith("<!-- quality:end -->\nbottom\n")
    assert (tmp_path / "bench" / "results" / "quality.md").exists()


def test_shares_finds_a_sweep_members_folder_or_says_none(tmp_path, monkeypatch, capsys):
    """`shares` loads each seed's G from where its samples were drawn (a sweep member's folder),
    else runs/quality/NAME/seedS; with neither, one line and exit code 2, no traceback."""
    import pytest
    monkeypatch.setattr(quality, "ROOT", tmp_path)
    member = tmp_path / "runs" / "recipe" / "sw" / "members" / "002"
    (member / "samples").mkdir(parents=True)
    (member / "summary.json").write_text("{}")
    rec = {"samples": "runs/recipe/sw/members/002/samples/final.png"}
    assert quality._run_dir("r", "2", rec) == member
    single = tmp_path / "runs" / "quality" / "r" / "seed1"
    single.mkdir(parents=True)
    (single / "summary.json").write_text("{}")
    assert quality._run_dir("r", "1", {"samples": "gone/samples/final.png"}) == single
    with pytest.raises(SystemExit) as e:
        quality._run_dir("r", "0", {"samples": "gone/samples/final.png"})
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1
    assert "r seed 0: no finished run in gone or runs/quality/r/seed0" in err
    # older single runs recorded absolute paths, maybe of another checkout: named as they are
    for samples, where in [("/elsewhere/runs/quality/r/seed0/samples/final.png",
                            "/elsewhere/runs/quality/r/seed0 or runs/quality/r/seed0"),
                           (str(tmp_path / "runs/quality/r/seed0/samples/final.png"),
                            "runs/quality/r/seed0 (")]:
        with pytest.raises(SystemExit) as e:
            quality._run_dir("r", "0", {"samples": samples})
        err = capsys.readouterr().err.strip()
        assert e.value.code == 2 and len(err.splitlines()) == 1 and f"in {where}" in err


def test_rejection_table_pairs_each_quantile_with_the_unfiltered_g():
    """`reject`'s rows: the share kept, mean ± sd over seeds, each seed's IS, and the IS change
    against quantile 0 of the same seed (paired); no row for a recipe never scored so."""
    def rej(is0, is3, kept):
        row = lambda i, k: {"fid": 2.0, "is": i, "modes": 10, "confident": 0.9,
                            "histogram": [1] * 10, "kept": k}
        return {"rejection": {"n": 10, "sample_seed": 1, "by_quantile": {
            "0.0": row(is0, 1.0), "0.3": row(is3, kept)}}}
    r = {"name": "r", "seeds": {"0": rej(8.9, 9.0, 0.92), "1": rej(8.8, 9.1, 0.94)}}
    for i, rec in enumerate(r["seeds"].values()):       # --parzen, and --n 50000 on q 0.3
        rec["rejection"]["by_quantile"]["0.3"]["parzen"] = {"mean": 240.0 + 2 * i, "stderr": 2}
        rec["rejection_n50000"] = {"by_quantile": {"0.3": {"histogram": [9 + i] + [10] * 9}}}
    md = quality.rejection_table([r, {"name": "plain", "seeds": {"0": {}}}])
    rows = [l.split("|") for l in md.splitlines() if l.startswith("| r |")]
    assert len(rows) == 2 and "plain" not in md
    assert [c.strip() for c in rows[1][2:8]] == ["0.3", "93.0%", "2.00 ± 0.00", "9.050 ± 0.071",
                                                 "9.000 / 9.100", "+0.200 ± 0.141"]
    assert [c.strip() for c in rows[1][9:11]] == ["241.0 ± 1.4", "9.1–10.1%"]
    assert rows[0][7].strip() == "" and [c.strip() for c in rows[0][9:11]] == ["—", "—"]
    assert quality.rejection_table([{"name": "plain", "seeds": {}}]) == ""
