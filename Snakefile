from snakemake.utils import min_version, validate

min_version("9.0")


# A config given with --configfile (a preset) replaces the default experiment rather than
# being merged into it: presets are whole grids, not overrides.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/config.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/cells.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/calibration.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/slides.smk"
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
    reference,
    bundle,


rule all:
    default_target: True
    input:
        rules.bundle.output,
        expand(rules.slides.output[0], experiment=EXPERIMENTS),
        get_reference_outputs(),
