"""Few-shot prompts: an instruction plus up to K exemplars drawn from the train pool, evolved
together (``--shots K``), and the price of a prompt's length (``--length-penalty L``)."""
