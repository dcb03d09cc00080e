rule figures:
    input:
        summary="results/{experiment}/summary.csv",
        speedup="results/{experiment}/speedup.csv",
        efficiency="results/{experiment}/efficiency.csv",
    output:
        expand(
            "results/{{experiment}}/figures/{figure}.{ext}",
            figure=FIGURES,
            ext=["png", "svg"],
        ),
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
