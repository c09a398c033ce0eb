module github.com/bargemq/barge

go 1.26
