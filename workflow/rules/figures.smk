# Every figure is drawn as PNG and SVG; the PNGs go into the Snakemake report, each with
# its own caption (workflow/report/figure_<name>.rst).
rule figures:
    input:
        summary="results/{experiment}/summary.csv",
        speedup="results/{experiment}/speedup.csv",
        efficiency="results/{experiment}/efficiency.csv",
        timings="results/{experiment}/timings.csv",
        amdahl="results/{experiment}/amdahl.csv",
        # The figures mark what the tables' tests decided (faster, equivalent, above the
        # physical bound): they are redrawn when a verdict changes.
        comparisons="results/{experiment}/comparisons.csv",
        recommendations="results/{experiment}/recommendations.csv",
    output:
        png=[
            report(
                f"results/{{experiment}}/figures/{figure}.png",
                caption=f"../report/figure_{figure}.rst",
                category="{experiment}",
                subcategory="Figures",
                labels={"experiment": "{experiment}", "figure": figure},
            )
            for figure in FIGURES
        ],
        svg=expand("results/{{experiment}}/figures/{figure}.svg", figure=FIGURES),
    log:
        "results/logs/{experiment}/figures.log",
    conda:
        "../../envs/imgbench.yaml"
    params:
        imgbench=IMGBENCH,
        directory=experiment_dir,
    shell:
        "{params.imgbench} plot --results-dir {params.directory:q}"
        " --output-dir {params.directory:q}/figures > {log:q} 2>&1"
