# One round of a cell. It takes every core that Snakemake was given, so that no other job
# (another cell, a dataset, a figure) ever runs beside a timed repetition; its priority puts
# it in its place in the seeded, round-by-round order (common.smk).
rule cell:
    input:
        dataset=get_cell_dataset,
    output:
        cell="results/{experiment}/cells/{task}/{storage}-{cache}/{width}x{height}/n{n_images}/{strategy}-w{workers}-r{round}.json",
    log:
        "results/logs/{experiment}/cells/{task}/{storage}-{cache}/{width}x{height}/n{n_images}/{strategy}-w{workers}-r{round}.log",
    benchmark:
        "results/benchmarks/{experiment}/cells/{task}/{storage}-{cache}/{width}x{height}/n{n_images}/{strategy}-w{workers}-r{round}.tsv"
    priority: get_cell_priority
    conda:
        "../../envs/imgbench.yaml"
    threads: workflow.cores
    params:
        imgbench=IMGBENCH,
        args=get_cell_args,
        config_hash=get_cell_config_hash,
    shell:
        "{params.imgbench} run-cell {params.args} --config-hash {params.config_hash:q}"
        " --dataset {input.dataset:q} --output {output.cell:q} > {log:q} 2>&1"
