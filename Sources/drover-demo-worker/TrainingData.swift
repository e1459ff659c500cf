// The model's training corpus, compiled into the binary so a fresh clone
// needs no downloads and start-up never touches the file system. Written
// by hand for this demo: short product / service / everyday remarks, one
// per line as `label<TAB>text`. Labels: positive, negative, neutral.
// Kept small on purpose: training over it takes a few milliseconds.
let trainingCorpus = """
positive\tI love this, it works perfectly
positive\tabsolutely fantastic service, thank you
positive\tthe food was delicious and the staff were lovely
positive\twhat a great day, everything went well
positive\tthis is the best phone I have ever owned
positive\thighly recommended, excellent quality
positive\tsuper happy with my purchase
positive\tthe movie was brilliant and moving
positive\twonderful experience from start to finish
positive\tgreat value for money, very pleased
positive\tthe team did an amazing job
positive\tI am delighted with the results
positive\tfriendly people and a beautiful place
positive\tworks like a charm, love it
positive\tfast delivery and great packaging
positive\tthe concert was awesome
positive\tsuch a pleasant surprise, really enjoyed it
positive\tthe new update is excellent, much faster
positive\tthank you so much, you made my day
positive\tgreat support, they solved my problem quickly
positive\tthe hotel room was clean and comfortable
positive\tI really like the design, it is gorgeous
positive\tperfect fit and very comfortable shoes
positive\tthis book is a masterpiece
positive\tlovely weather and a fantastic view
positive\tthe kids had a wonderful time
positive\tvery impressed with the build quality
positive\tsmooth checkout and a helpful clerk
positive\tthe coffee here is superb
positive\tbest decision I made this year
positive\tI enjoyed every minute of the show
positive\tthe instructions were clear and easy to follow
positive\tgreat battery life, lasts all day
positive\tthe waiter was kind and attentive
positive\tthis app is incredibly useful
positive\tI am so grateful for your help
positive\tthe garden looks beautiful this spring
positive\texcellent course, I learned a lot
positive\tthe car drives beautifully
positive\thappy birthday, wishing you joy
positive\tyour work is outstanding
positive\tthe sound quality is amazing
positive\tthe trip was fun and relaxing
positive\twhat a delightful little cafe
positive\tgood job everyone, well done
positive\tthe product exceeded my expectations
positive\tnice and easy, no problems at all
positive\tthe nurses were caring and gentle
positive\tit tastes great and smells wonderful
positive\tbrilliant idea, I love it
positive\tawesome game, so much fun
positive\tthe upgrade was totally worth it
positive\tmy favourite restaurant in town
positive\tsuperb performance by the whole cast
positive\tthe new office is bright and cheerful
positive\tfantastic customer care, very friendly
positive\tit arrived early and works great
positive\tthe cake was perfect, everyone loved it
positive\tthe teacher is patient and inspiring
positive\tthis made me smile, thank you
positive\tthe screen is sharp and vivid
positive\tan excellent read, beautifully written
positive\tthe hike was breathtaking
positive\tgreat atmosphere and good music
positive\teverything was spotless and tidy
positive\tI would definitely buy again
positive\tthe repair was quick and cheap, great
positive\tlove the colours, really pretty
positive\tthe staff went above and beyond
positive\ta joy to use every single day
positive\tthe soup was warm and tasty
positive\tcongratulations, that is wonderful news
positive\tthe software is reliable and stable
positive\tthe bed was so comfy, I slept well
positive\tcheerful service with a smile
positive\tthe best pizza I have had in ages
positive\tI am thrilled with the new kitchen
positive\tgreat fun, we laughed all evening
positive\tthe speaker was engaging and clever
positive\tit is lightweight and very handy
positive\ta lovely gift, she adored it
positive\tthe flight was smooth and on time
positive\tvery good, I am satisfied
positive\tkind, honest and helpful people
positive\tthe museum was fascinating
positive\texcellent, five stars
positive\tgreat, thanks a lot
positive\tnice work, looks good to me
positive\tamazing, I love how simple it is
positive\tthe puppy is adorable and sweet
negative\tI hate this, it broke after one day
negative\tterrible service, never coming back
negative\tthe food was cold and tasteless
negative\twhat an awful day, everything went wrong
negative\tthis is the worst phone I have ever owned
negative\tdo not buy, very poor quality
negative\treally disappointed with my purchase
negative\tthe movie was boring and far too long
negative\thorrible experience from start to finish
negative\toverpriced and a waste of money
negative\tthe team did a sloppy job
negative\tI am furious about the results
negative\trude people and a dirty place
negative\tit does not work at all, useless
negative\tslow delivery and damaged packaging
negative\tthe concert was a disaster
negative\tsuch an unpleasant surprise, really annoying
negative\tthe new update is awful, much slower
negative\tyou ruined my day
negative\tno support, they ignored my problem
negative\tthe hotel room was filthy and noisy
negative\tI really dislike the design, it is ugly
negative\tthe shoes hurt and fell apart
negative\tthis book is dull and badly written
negative\tmiserable weather and a grim view
negative\tthe kids were bored and upset
negative\tthe build quality is cheap and flimsy
negative\tthe checkout was a mess and the clerk was rude
negative\tthe coffee here is bitter and stale
negative\tworst decision I made this year
negative\tI regret every minute of the show
negative\tthe instructions were confusing and wrong
negative\tterrible battery life, dead by noon
negative\tthe waiter was rude and careless
negative\tthis app keeps crashing, so frustrating
negative\tI am sick of your excuses
negative\tthe garden is a dead, muddy mess
negative\tpointless course, I learned nothing
negative\tthe car keeps breaking down
negative\tI feel sad and lonely today
negative\tyour work is careless and late
negative\tthe sound is distorted and awful
negative\tthe trip was stressful and exhausting
negative\twhat a depressing, gloomy cafe
negative\tbad job, this is a failure
negative\tthe product fell short, total letdown
negative\tnothing but problems, avoid it
negative\tthe nurses were cold and dismissive
negative\tit tastes horrible and smells bad
negative\tstupid idea, I hate it
negative\tawful game, a complete waste of time
negative\tthe upgrade was not worth it at all
negative\tmy least favourite restaurant in town
negative\tpathetic performance by the whole cast
negative\tthe new office is dark and depressing
negative\tawful customer care, very unfriendly
negative\tit arrived late and broken
negative\tthe cake was dry, nobody liked it
negative\tthe teacher is impatient and mean
negative\tthis made me angry
negative\tthe screen is blurry and dim
negative\ta terrible read, poorly written
negative\tthe hike was miserable and dangerous
negative\tawful atmosphere and loud music
negative\teverything was dirty and smelly
negative\tI would never buy this again
negative\tthe repair was slow and expensive, terrible
negative\tthe colours are ugly and faded
negative\tthe staff could not care less
negative\ta pain to use every single day
negative\tthe soup was cold and salty
negative\tthat is terrible news, I am so sorry
negative\tthe software is buggy and unstable
negative\tthe bed was awful, I could not sleep
negative\tgrumpy service and long waits
negative\tthe worst pizza I have had in ages
negative\tI am unhappy with the new kitchen
negative\tno fun at all, we left early
negative\tthe speaker was boring and arrogant
negative\tit is heavy and very awkward
negative\ta cheap gift, she hated it
negative\tthe flight was delayed and bumpy
negative\tvery bad, I am not satisfied
negative\tdishonest, lazy and unhelpful people
negative\tthe museum was tedious
negative\tawful, one star
negative\tno thanks, this is bad
negative\tpoor work, looks broken to me
negative\thorrible, I hate how complicated it is
negative\tthe dog is aggressive and scary
negative\tthe package was lost and nobody answered
negative\tI want a refund, this is a scam
negative\tthe noise is unbearable
negative\tthey charged me twice, unacceptable
negative\tit stopped working, complete junk
neutral\tthe meeting is at three o'clock
neutral\tthe package arrived on tuesday
neutral\tthe store opens at nine in the morning
neutral\tthe train leaves from platform four
neutral\tthe report has twelve pages
neutral\tthe phone comes in black and white
neutral\tthe museum is on the corner of main street
neutral\tI will call you tomorrow
neutral\tthe bus stops here every twenty minutes
neutral\tthe book was published in two thousand ten
neutral\tthe office is on the second floor
neutral\tthe box contains a cable and a charger
neutral\twe moved to a new apartment last month
neutral\tthe order number is on the receipt
neutral\tthe restaurant serves lunch and dinner
neutral\tthe update will be installed tonight
neutral\tthe class starts next monday
neutral\tthe hotel has forty rooms
neutral\tthe car is parked outside
neutral\tthe recipe uses flour, eggs and milk
neutral\tthe film is about two brothers
neutral\tthe shop is closed on sundays
neutral\tthe laptop weighs two kilograms
neutral\tthe flight lands at six in the evening
neutral\tthe library has a reading room
neutral\tmy sister lives in another city
neutral\tthe form must be signed by friday
neutral\tthe bridge was built in the last century
neutral\tthe kettle holds one litre of water
neutral\tthe conference takes place in june
neutral\tthe parcel weighs about three pounds
neutral\tthe app is available for download
neutral\tthe street runs north to south
neutral\tthe manual is written in english
neutral\tthe price is listed on the website
neutral\tthe garden has a small shed
neutral\tthe shirt is made of cotton
neutral\tthe school is near the station
neutral\twe had pasta for dinner
neutral\tthe printer is in the hallway
neutral\tthe museum tour lasts one hour
neutral\tthe password must have eight characters
neutral\tthe delivery is scheduled for monday
neutral\tthe river flows through the town
neutral\tthe report is due next week
neutral\tthe cat sleeps on the sofa
neutral\tthe shop sells fruit and vegetables
neutral\tthe table is made of oak
neutral\tthe store is next to the bank
neutral\the works as an engineer
neutral\tthe invoice was sent by email
neutral\tthe battery is included in the box
neutral\tthe road is being repaired this week
neutral\tthe game has three levels
neutral\tthe room is on the left
neutral\tthe menu changes every season
neutral\tthe software runs on linux
neutral\tthe concert starts at eight
neutral\tthe bottle contains half a litre
neutral\tthe city has two airports
neutral\tthe jacket has four pockets
neutral\tI bought milk and bread
neutral\tthe session will be recorded
neutral\tthe phone has a six inch screen
neutral\tthe station is a short walk away
neutral\tthe course covers basic statistics
neutral\tthe building has ten floors
neutral\tthe tickets are sold at the door
neutral\tthe meeting was moved to thursday
neutral\tthe guide explains the settings
neutral\tthe chair is blue
neutral\tthe file is attached
neutral\tthe bank closes at five
neutral\tthe train was on platform two
neutral\tthe lesson covers chapter three
neutral\tit is a quarter past ten
neutral\tthe kitchen has a gas stove
neutral\tthe dog is three years old
neutral\tthe plan includes a monthly fee
neutral\tthe box is on the shelf
neutral\tthe survey has ten questions
neutral\tthe event is free to attend
neutral\tthe road goes to the coast
neutral\tthe device uses a usb cable
neutral\tthe office will be closed on monday
neutral\tthe recipe serves four people
neutral\tthe appointment is at noon
neutral\tplease send the documents by mail
neutral\tthe store accepts cards and cash
neutral\tthe version number is printed on the label
neutral\tthe hall can seat two hundred people
neutral\tthe results will be published next month
neutral\tthe village is twenty miles away
neutral\tthe lamp needs a new bulb
neutral\tthe shop is on the ground floor
"""
