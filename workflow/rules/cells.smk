# A cell takes every core that Snakemake was given, so that no other job (another cell, a
# dataset, a figure) ever runs beside a timed repetition.
rule cell:
    input:
        dataset=get_cell_dataset,
    output:
        cell="results/{experiment}/cells/{task}/{storage}-{cache}/{width}x{height}/n{n_images}/{strategy}-w{workers}.json",
    log:
        "results/logs/{experiment}/cells/{task}/{storage}-{cache}/{width}x{height}/n{n_images}/{strategy}-w{workers}.log",
    benchmark:
        "results/benchmarks/{experiment}/cells/{task}/{storage}-{cache}/{width}x{height}/n{n_images}/{strategy}-w{workers}.tsv"
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
