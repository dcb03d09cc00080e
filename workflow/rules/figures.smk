# Every figure is drawn as PNG and SVG; the PNGs go into the Snakemake report, each with
# its own caption (workflow/report/figure_<name>.rst).
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
