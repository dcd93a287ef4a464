"""``posepipe list``: the model zoo."""

from __future__ import annotations

import click

from posepipe.pipeline.cli.options import quiet_libraries

# "from": posepipe's zoo or the plug-in package that registered it (models/registry.py);
# "based on": the published system each model follows, by name (ModelSpec.origin)
COLUMNS = ("model", "from", "input", "params", "GMAC", "keypoints", "outputs", "budgets (p50 ms)", "based on",
           "summary")


@click.command("list")
@click.option("--names", is_flag=True, help="Only the model names, one a line (for scripts and CI matrices).")
def list_models(names: bool) -> None:
    """Show the model zoo: input size, parameters, MACs, keypoints, outputs, budgets
    and the published system each model is based on; plug-ins' models too (a broken
    plug-in is one warning line on stderr, and skipped)."""
    quiet_libraries()
    from rich.table import Table

    from posepipe import models
    from posepipe.pipeline.engine.console import Console
    from posepipe.validators.perf.macs import count

    if names:
        click.echo("\n".join(models.names()))
        return
    table = Table(title="posepipe model zoo (default config)")
    for column in COLUMNS:
        table.add_column(column)
    for name in models.names():
        spec = models.get(name)
        h, w = spec.default.input_size
        cost = count(spec.build(spec.default))
        budgets = ", ".join(f"{t} {ms:g}" for t, ms in spec.budgets.items()) or "-"
        outputs = ", ".join(f"{o.name}/{o.stride or o.kind}" for o in spec.outputs_for(spec.default))
        keypoints = str(len(spec.keypoints))
        table.add_row(name, models.registry.source(name),
                      f"{h}x{w}", f"{cost.params / 1e6:.2f} M", f"{cost.gmacs:.3f}", keypoints, outputs, budgets,
                      spec.origin, spec.summary)
    Console().out.print(table)


COMMANDS = (list_models,)
