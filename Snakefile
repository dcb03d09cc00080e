from snakemake.utils import min_version

min_version("9.0")


# A config given with --configfile (a preset) replaces the default experiment rather than
# being merged into it: presets are whole grids, not overrides.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


# common.smk validates the config (workflow/schemas/config.schema.yaml, with defaults, and
# the registries), reporting every problem at once before any job is planned.
include: "workflow/rules/common.smk"
include: "workflow/rules/config.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/cells.smk"
include: "workflow/rules/pythons.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/calibration.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/slides.smk"
include: "workflow/rules/markdown.smk"
include: "workflow/rules/reference.smk"
include: "workflow/rules/bundle.smk"


# On a cluster (profiles/slurm) only cells and datasets are submitted: the rest is quick,
# single-threaded bookkeeping that would otherwise wait in the queue for a node.
localrules:
    all,
    resolved_config,
    aggregate,
    calibration,
    figures,
    slides,
    markdown,
    reference,
    bundle,


rule all:
    default_target: True
    input:
        rules.bundle.output,
        expand(rules.slides.output[0], experiment=EXPERIMENTS),
        expand(rules.markdown.output[0], experiment=EXPERIMENTS),
        get_reference_outputs(),


# After a run, the verdict of every experiment in a few lines: its recommendations, the
# warnings that matter and where the deck, report and bundle are (`imgbench summary` prints
# the same at any time). A summary that cannot be written must not fail a finished run.
onsuccess:
    from imgbench.report.summary import summaries

    try:
        text = summaries([f"{RESULTS}/{e}" for e in EXPERIMENTS])
        print(f"\n{text}", end="")
    except Exception as exc:
        print(f"imgbench: no summary ({type(exc).__name__}: {exc})")
