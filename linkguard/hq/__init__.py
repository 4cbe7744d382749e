"""The headquarters (総点検本部): survey, board, stops, exposure investigation and notices (issue 11)."""
