from snakemake.utils import min_version, validate

min_version("9.0")


# A config given with --configfile (a preset) replaces the default experiment rather than
# being merged into it: presets are whole grids, not overrides.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/cells.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/slides.smk"
include: "workflow/rules/reference.smk"
include: "workflow/rules/bundle.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
