"""bench.figures: plots written to files, their folders made, the figures closed."""

from bench.figures import pyplot, save_figure


def test_save_figure_writes_every_format_into_new_folders_and_closes(tmp_path):
    plt = pyplot()
    figure, axis = plt.subplots()
    axis.plot([0, 1], [1, 0])
    png, svg = tmp_path / "a" / "b" / "f.png", tmp_path / "c" / "f.svg"
    assert save_figure(figure, png, str(svg), bbox_inches="tight") == [png, svg]
    assert png.read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in svg.read_bytes()[:1000]
    assert figure.number not in plt.get_fignums()


def test_pyplot_draws_without_a_display():
    assert pyplot().get_backend().lower() == "agg"
