from imgbench.workflow import WORKLOAD_CAPTION, WORKLOAD_DIR, WORKLOAD_PATTERNS


# Every figure is drawn as PNG and SVG; the PNGs go into the Snakemake report, each with
# its own caption (workflow/report/figure_<name>.rst). The figures of each task at each
# image size are one folder: which files it holds depends on the experiment's tasks and
# sizes, and a rule's outputs cannot, so the folder is the output (each of its files is
# this job's) and the report takes each PNG in it, captioned by task and size.
rule figures:
    input:
        summary=rules.aggregate.output.summary,
        speedup=rules.aggregate.output.speedup,
        efficiency=rules.aggregate.output.efficiency,
        timings=rules.aggregate.output.timings,
        amdahl=rules.aggregate.output.amdahl,
        # The figures mark what the tables' tests decided (faster, equivalent, above the
        # physical bound): they are redrawn when a verdict changes.
        comparisons=rules.aggregate.output.comparisons,
        recommendations=rules.aggregate.output.recommendations,
        # Each figure's footer (machine, date of the run) and the workloads whose every
        # cell is missing, which get a figure that says so.
        metadata=rules.aggregate.output.metadata,
    output:
        png=[
            report(
                f"{RESULTS}/{{experiment}}/figures/{figure}.png",
                caption=f"../report/figure_{figure}.rst",
                category="{experiment}",
                subcategory="Figures",
                labels={"experiment": "{experiment}", "figure": figure},
            )
            for figure in FIGURES
        ],
        svg=[f"{RESULTS}/{{experiment}}/figures/{figure}.svg" for figure in FIGURES],
        workloads=report(
            directory(f"{RESULTS}/{{experiment}}/figures/{WORKLOAD_DIR}"),
            patterns=WORKLOAD_PATTERNS,
            caption=f"../report/{WORKLOAD_CAPTION}",
            category="{experiment}",
            subcategory="Figures per task and size",
            labels={"experiment": "{experiment}", "task": "{task}", "size": "{size}"},
        ),
    log:
        f"{RESULTS}/logs/{{experiment}}/figures.log",
    conda:
        "../../envs/imgbench.yaml"
    params:
        imgbench=IMGBENCH,
        directory=PLAN.experiment_dir,
    shell:
        "{params.imgbench} plot --results-dir {params.directory:q}"
        " --output-dir {params.directory:q}/figures > {log:q} 2>&1"
