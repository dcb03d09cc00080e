rule slides:
    input:
        summary="results/{experiment}/summary.csv",
        speedup="results/{experiment}/speedup.csv",
        efficiency="results/{experiment}/efficiency.csv",
        amdahl="results/{experiment}/amdahl.csv",
        comparisons="results/{experiment}/comparisons.csv",
        recommendations="results/{experiment}/recommendations.csv",
        metadata="results/{experiment}/metadata.json",
        figures=expand("results/{{experiment}}/figures/{figure}.png", figure=FIGURES),
        calibration=get_calibration,
    output:
        report(
            "results/{experiment}/slides.html",
            caption="../report/slides.rst",
            category="{experiment}",
            subcategory="Slide deck",
            labels={"experiment": "{experiment}", "file": "slides.html"},
        ),
    log:
        "results/logs/{experiment}/slides.log",
    conda:
        "../../envs/imgbench.yaml"
    params:
        imgbench=IMGBENCH,
        directory=experiment_dir,
    shell:
        "{params.imgbench} slides --results-dir {params.directory:q} --output {output:q} > {log:q} 2>&1"
