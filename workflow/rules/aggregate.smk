rule aggregate:
    input:
        cells=get_experiment_cells,
    output:
        timings="results/{experiment}/timings.csv",
        summary="results/{experiment}/summary.csv",
        speedup="results/{experiment}/speedup.csv",
        efficiency="results/{experiment}/efficiency.csv",
        amdahl="results/{experiment}/amdahl.csv",
        comparisons="results/{experiment}/comparisons.csv",
        recommendations="results/{experiment}/recommendations.csv",
        metadata="results/{experiment}/metadata.json",
    log:
        "results/logs/{experiment}/aggregate.log",
    conda:
        "../../envs/imgbench.yaml"
    params:
        imgbench=IMGBENCH,
        directory=experiment_dir,
        description=get_experiment_description,
    shell:
        "{params.imgbench} aggregate {input.cells:q} --output-dir {params.directory:q}"
        " --description {params.description:q} > {log:q} 2>&1"
